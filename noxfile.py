"""Every way to build, test, lint, benchmark and demo Ember.

``nox`` alone runs the default sessions -- everything CI checks: ``tests``,
``core``, ``lint`` and ``wheels``. ``nox -s demo`` serves the demo;
``nox -s bench`` runs the benchmarks (not part of CI: they need a quiet machine).
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "core", "lint", "wheels"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
PACKAGES = ["packages/ember-core", "packages/ember-ai", "packages/ember-ratelimit"]
HELLO = "examples/plugins/ember-hello"
PYTHON = "3.11"


def _existing(paths: list[str]) -> list[str]:
    return [p for p in paths if (ROOT / p / "pyproject.toml").exists()]


def _install_workspace(session: nox.Session) -> None:
    editable = [arg for p in _existing(PACKAGES) for arg in ("-e", p)]
    session.install(*editable, "-r", "tests/requirements.txt")
    if (ROOT / HELLO / "pyproject.toml").exists():
        # Installed the way a third party's plugin would be: a plain, non-editable install.
        session.install("--reinstall-package", "ember-hello", HELLO)


def _ensure_chromium(session: nox.Session) -> None:
    """The demo page's test drives a real headless Chromium (Debian's package)."""
    if shutil.which("chromium"):
        return
    if os.geteuid() != 0:
        session.error("the browser test needs Chromium: sudo apt-get install -y chromium")
    session.log("installing Debian's chromium for the browser test (once per machine)")
    session.run("apt-get", "update", "-qq", external=True)
    session.run(
        "apt-get",
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "chromium",
        external=True,
        env={"DEBIAN_FRONTEND": "noninteractive"},
    )


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Every test, with all distributions and the example plugin installed."""
    _ensure_chromium(session)
    _install_workspace(session)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def core(session: nox.Session) -> None:
    """ember-core alone, installed from its wheel, as a user without extras has it."""
    wheel_dir = tempfile.mkdtemp(prefix="ember-core-wheel-")
    session.run(
        "uv", "build", "--wheel", "--out-dir", wheel_dir, "packages/ember-core", external=True
    )
    wheel = glob.glob(os.path.join(wheel_dir, "ember_core-*.whl"))[0]
    session.install(
        wheel, "pytest", "pytest-asyncio", "pytest-timeout", "hypothesis", "httpx", "httpx-sse"
    )
    session.run(
        "pytest",
        "tests/core",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={"EMBER_CORE_ONLY": "1"},
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff on everything; mypy --strict on packages/."""
    session.install(
        "ruff",
        "mypy",
        *[arg for p in _existing(PACKAGES) for arg in ("-e", p)],
        "redis",  # ships its own type hints (types-redis is outdated and shadows them)
    )
    session.run("ruff", "check", ".")
    session.run("mypy", *[f"{p}/src" for p in _existing(PACKAGES)])


@nox.session(python=PYTHON)
def wheels(session: nox.Session) -> None:
    """Build every distribution; only ember-core's wheel may hold ember/__init__.py."""
    out = tempfile.mkdtemp(prefix="ember-wheels-")
    for package in [*_existing(PACKAGES), HELLO, "."]:
        if (ROOT / package / "pyproject.toml").exists():
            session.run("uv", "build", "--wheel", "--out-dir", out, package, external=True)
    offenders = []
    for wheel in glob.glob(os.path.join(out, "*.whl")):
        names = zipfile.ZipFile(wheel).namelist()
        if "ember/__init__.py" in names and not os.path.basename(wheel).startswith("ember_core-"):
            offenders.append(os.path.basename(wheel))
    if offenders:
        session.error(
            f"these wheels ship ember/__init__.py and would clobber ember-core: {offenders}"
        )
    session.log(f"{len(glob.glob(os.path.join(out, '*.whl')))} wheels built; namespace is clean")


BENCHES = {
    "core": "bench/run.py",
    "ratelimit": "bench/ratelimit/run.py",
    "sessions": "bench/ai_sessions.py",
    "gateway": "bench/gateway/run.py",
    "soak": "bench/soak/run.py",
}


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks side by side with the peers; writes docs/benchmarks.md material.

    ``nox -s bench`` runs the core, rate-limit and session benchmarks (about
    25 minutes); ``nox -s bench -- ratelimit`` runs one of them, ``-- gateway``
    the gateway against LiteLLM and Portkey (installs them first), ``-- soak``
    the 30-minute memory soak, and ``-- core --quick`` passes ``--quick`` on.
    """
    _install_workspace(session)
    session.install("-r", "bench/requirements.txt")
    default = ["core", "ratelimit", "sessions"]
    names = [a for a in session.posargs if not a.startswith("-")] or default
    options = [a for a in session.posargs if a.startswith("-")]
    for name in names:
        if name not in BENCHES:
            session.error(f"unknown benchmark {name!r}; choose from {sorted(BENCHES)}")
        if name == "gateway":
            session.run("bash", "bench/gateway/setup_peers.sh", external=True)
        session.run("python", BENCHES[name], *options)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Serve the demo on http://127.0.0.1:8000 (offline)."""
    session.install(*[arg for p in _existing(PACKAGES) for arg in ("-e", p)])
    demo_file = ROOT / "examples" / "demo.py"
    target = "demo:app" if demo_file.exists() else "seed_openai_compatible:app"
    session.run("ember", "run", target, "--app-dir", "examples", "--port", "8000", *session.posargs)
