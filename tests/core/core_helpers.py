"""Helpers for ember-core's own tests (imported by them as ``core_helpers``).

These tests also run in a venv holding ember-core alone, so nothing here
imports a plugin.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import ember
import httpx
from ember import Ember
from servers import live_server  # noqa: F401  (re-exported for the core tests)


def make_app(**options: Any) -> Ember:
    """An app that ignores installed plugins, so they cannot change what core does."""
    return Ember(load_entry_points=False, **options)


@contextlib.asynccontextmanager
async def asgi_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling ``app`` in-process (bodies are buffered by httpx)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; return the last result."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# ------------------------------------------------------------ a site with ember-core alone


def _is_plugin_dist(dist_info: Path) -> bool:
    if dist_info.name.startswith("ember_core-"):
        return False
    entry_points = dist_info / "entry_points.txt"
    if entry_points.exists() and "[ember]" in entry_points.read_text():
        return True
    return dist_info.name.startswith(("ember_ai-", "ember_ratelimit-", "ember_hello-"))


def _site_packages_of_ember() -> Path:
    """The site-packages directory this interpreter installs distributions into."""
    import sysconfig

    return Path(sysconfig.get_paths()["purelib"])


def build_core_only_path(target: Path) -> Path:
    """A directory that, as the whole of ``sys.path``, has ember-core and no plugin.

    It mirrors this venv's site-packages with symlinks, leaving out every Ember
    plugin distribution and the editable-install ``.pth`` files, and holds
    ember-core's own modules only. Whether or not plugins are installed in the
    venv running the tests, a ``python -S`` child on this path sees ember-core
    alone, as a user who ran ``pip install ember-core`` does.
    """
    for entry in _site_packages_of_ember().iterdir():
        if entry.name in {"ember", "__pycache__"} or entry.suffix == ".pth":
            continue
        if entry.suffix == ".dist-info" and _is_plugin_dist(entry):
            continue
        (target / entry.name).symlink_to(entry)
    package = target / "ember"
    package.mkdir()
    for module in Path(ember.__file__).parent.iterdir():
        if module.is_file():
            (package / module.name).symlink_to(module)
    return target


def run_python(
    code: str, *, path: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter; with ``path``, that is its whole sys.path."""
    command = [sys.executable]
    child_env = {**os.environ, **(env or {})}
    if path is not None:
        command.append("-S")
        child_env["PYTHONPATH"] = str(path)
    return subprocess.run(
        [*command, "-c", code],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=60,
        check=False,
    )
