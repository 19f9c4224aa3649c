"""The ``ember`` command: ``ember run module:app`` and ``ember plugins``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from . import plugins
from .errors import PluginError
from .records import PluginInfo

logger = logging.getLogger("ember")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ember", description="Ember: ASGI for LLM-backed APIs.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="serve an app with uvicorn")
    run.add_argument("app", help="import string of the app, module:attribute")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--workers", type=int, default=1)
    run.add_argument("--reload", action="store_true", help="restart when code changes")
    run.add_argument("--app-dir", default=".", help="directory to import the app from")
    run.add_argument("--log-level", default="info")

    listing = commands.add_parser("plugins", help="list installed plugins")
    listing.add_argument("--all", action="store_true", help="include the core's built-in plugin")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def describe(infos: Sequence[PluginInfo]) -> str:
    """One line naming every non-core plugin and its version (the start-up log line)."""
    named = [f"{i.name}-{i.version}" if i.version else i.name for i in infos if not i.builtin]
    return "plugins: " + (", ".join(named) if named else "none")


def _plugins_command(show_all: bool, as_json: bool) -> int:
    _, infos = plugins.make_plugin_manager()
    shown = [i for i in infos if show_all or not i.builtin]
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "name": i.name,
                        "distribution": i.distribution,
                        "version": i.version,
                        "hooks": list(i.hooks),
                    }
                    for i in shown
                ],
                indent=2,
            )
        )
        return 0
    if not shown:
        print("No plugins installed.")
        return 0
    for info in shown:
        where = (
            f"{info.distribution} {info.version}"
            if info.distribution
            else "(not from a distribution)"
        )
        print(f"{info.name:<12} {where}")
        print(f"{'':<12} hooks: {', '.join(info.hooks)}")
    return 0


def _run_command(args: argparse.Namespace) -> int:
    import uvicorn

    if ":" not in args.app:
        print(f"ember run: expected module:attribute, got {args.app!r}", file=sys.stderr)
        return 2
    os.environ["EMBER_WORKERS"] = str(args.workers)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(message)s")
    _, infos = plugins.make_plugin_manager()
    logger.info("ember %s", describe(infos))
    uvicorn.run(
        args.app,
        host=args.host,
        port=args.port,
        workers=args.workers,
        reload=args.reload,
        app_dir=args.app_dir,
        log_level=args.log_level,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "plugins":
            return _plugins_command(args.all, args.json)
        return _run_command(args)
    except PluginError as exc:  # a broken or conflicting plugin: the message says it all
        print(f"ember: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
