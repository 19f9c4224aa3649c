"""The ``ember`` command as installed: ``ember run module:app`` and ``ember plugins``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
from core_helpers import wait_until
from servers import free_port

EMBER = str(Path(sys.executable).parent / "ember")

_APP = """
from ember import Ember

service = Ember()


@service.get("/hello/{name}")
async def hello(name: str):
    return {"hello": name, "workers": service.workers}
"""


def _ember(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EMBER, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_ember_run_serves_module_colon_app(tmp_path: Path) -> None:
    (tmp_path / "cli_served_app.py").write_text(textwrap.dedent(_APP))
    port = free_port()
    process = subprocess.Popen(
        [EMBER, "run", "cli_served_app:service", "--port", str(port), "--app-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/hello/cli", timeout=2).is_success
            except httpx.TransportError:
                return process.poll() is not None

        assert wait_until(answers, timeout=30)
        assert process.poll() is None
        body = httpx.get(f"http://127.0.0.1:{port}/hello/cli", timeout=5).json()
        assert body == {"hello": "cli", "workers": 1}
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    # The start-up log line names the loaded plugins, as pytest's header does.
    assert "ember plugins:" in output


def test_ember_run_refuses_a_target_without_a_colon() -> None:
    done = _ember("run", "just_a_module")
    assert done.returncode == 2
    assert "expected module:attribute" in done.stderr


def test_ember_plugins_says_when_none_are_loaded() -> None:
    done = _ember("plugins", env={"EMBER_LOAD_PLUGINS": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "No plugins installed."


def test_ember_plugins_all_json_lists_the_core_builtin_with_its_version() -> None:
    done = _ember("plugins", "--all", "--json", env={"EMBER_LOAD_PLUGINS": ""})
    assert done.returncode == 0, done.stderr
    [builtin] = json.loads(done.stdout)
    assert builtin["name"] == "ember.builtin"
    assert builtin["distribution"] == "ember-core"
    assert builtin["version"]
    assert "ember_injectables" in builtin["hooks"]
