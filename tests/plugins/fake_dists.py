"""A sandbox for loader tests: ember-core plus fake plugin distributions.

Entry points are scanned once per process and ``extend_path`` looks at
``sys.path`` once, at the first ``import ember``, so every scenario runs in a
fresh ``python -S`` subprocess. Its ``sys.path`` holds:

1. a directory of fake distributions (``<name>.dist-info`` with ``METADATA``
   and ``entry_points.txt``, and the plugin's ``ember/<name>/`` modules), as
   an installer would lay them out in ``site-packages``;
2. a copy of this environment's ``site-packages`` made of symlinks, *without*
   the installed Ember plugins (ember-ai, ember-ratelimit, ember-hello), so a
   scenario sees ember-core, its dependencies and its own fakes -- nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ember

SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
EMBER_PACKAGE = Path(ember.__file__).parent


def _is_ember_plugin(dist_info: Path) -> bool:
    entry_points = dist_info / "entry_points.txt"
    return entry_points.exists() and "[ember]" in entry_points.read_text().split()


def core_only_site(target: Path) -> None:
    """Mirror site-packages into ``target`` with symlinks, leaving out Ember plugins."""
    target.mkdir()
    for entry in SITE_PACKAGES.iterdir():
        if entry.name == "ember" or entry.suffix == ".pth":
            continue
        if entry.suffix == ".dist-info" and _is_ember_plugin(entry):
            continue
        (target / entry.name).symlink_to(entry)
    # ember-core's own modules only: a plugin's portion (ember/ai/, ...) is a
    # sub-directory, wherever ember-core itself was installed.
    (target / "ember").mkdir()
    for module in EMBER_PACKAGE.iterdir():
        if module.is_file():
            (target / "ember" / module.name).symlink_to(module)


@dataclass
class Sandbox:
    """Fake distributions in ``root``, and a way to run Python over them."""

    root: Path
    site: Path
    # More sys.path entries, after root: where an editable install points.
    extra_paths: list[Path] = field(default_factory=list)

    def add_dist(
        self,
        name: str,
        version: str = "1.0",
        entry_points: Mapping[str, str] | None = None,
        files: Mapping[str, str] | None = None,
    ) -> None:
        """Install a fake distribution: metadata, ``[ember]`` entry points, modules."""
        dist_info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        dist_info.mkdir(parents=True)
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        lines = [f"{ep} = {target}" for ep, target in (entry_points or {}).items()]
        (dist_info / "entry_points.txt").write_text("[ember]\n" + "\n".join(lines) + "\n")
        for path, source in (files or {}).items():
            module = self.root / path
            module.parent.mkdir(parents=True, exist_ok=True)
            module.write_text(textwrap.dedent(source))

    def add_plugin(self, name: str, source: str, version: str = "1.0") -> None:
        """Add ``ember-<name>``, whose entry point ``<name>`` is ``ember.<name>.plugin``."""
        self.add_dist(
            f"ember-{name}",
            version,
            {name: f"ember.{name}.plugin"},
            {f"ember/{name}/__init__.py": "", f"ember/{name}/plugin.py": source},
        )

    def run(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``python -S <args>`` with the sandbox as its whole world."""
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            env=self.environment(env),
            cwd=self.root,
            timeout=60,
        )

    def command(self, *args: str) -> list[str]:
        # -S: no site-packages of this environment, only the sandbox's paths.
        return [sys.executable, "-S", *args]

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("EMBER_", "PYTHON"))}
        paths = [self.root, *self.extra_paths, self.site]
        clean["PYTHONPATH"] = os.pathsep.join(str(path) for path in paths)
        clean.update(extra or {})
        return clean

    def python(self, code: str, env: Mapping[str, str] | None = None) -> Any:
        """Run ``code``, which must ``print`` one JSON value; return that value."""
        done = self.run("-c", textwrap.dedent(code), env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])
