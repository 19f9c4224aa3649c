"""``ember plugins``: what is installed, from which distribution, with which hooks."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from fake_dists import Sandbox
from servers import free_port

GREETER = """
    from ember import AppOption, Export, hookimpl

    @hookimpl
    def ember_app_options():
        return [AppOption("greeting")]

    @hookimpl
    def ember_exports():
        return []
"""


def test_lists_plugin_distribution_version_and_hooks(sandbox: Sandbox) -> None:
    sandbox.add_plugin("greeter", GREETER, version="2.0.1")

    done = sandbox.run("-m", "ember.cli", "plugins")

    assert done.returncode == 0, done.stderr
    name_line, hooks_line = done.stdout.splitlines()
    assert name_line.split() == ["greeter", "ember-greeter", "2.0.1"]
    assert hooks_line.split() == ["hooks:", "ember_app_options,", "ember_exports"]


def test_hides_the_core_builtin_plugin(sandbox: Sandbox) -> None:
    done = sandbox.run("-m", "ember.cli", "plugins")

    assert done.stdout.strip() == "No plugins installed."


def test_all_includes_the_core_builtin_plugin(sandbox: Sandbox) -> None:
    sandbox.add_plugin("greeter", GREETER)

    done = sandbox.run("-m", "ember.cli", "plugins", "--all")

    names = [line.split()[0] for line in done.stdout.splitlines() if not line[0].isspace()]
    assert names == ["ember.builtin", "greeter"]
    assert "ember-core" in done.stdout.splitlines()[0]


def test_json_output(sandbox: Sandbox) -> None:
    sandbox.add_plugin("greeter", GREETER, version="2.0.1")

    done = sandbox.run("-m", "ember.cli", "plugins", "--json")

    assert json.loads(done.stdout) == [
        {
            "name": "greeter",
            "distribution": "ember-greeter",
            "version": "2.0.1",
            "hooks": ["ember_app_options", "ember_exports"],
        }
    ]


def test_json_all_includes_the_builtin_plugin(sandbox: Sandbox) -> None:
    done = sandbox.run("-m", "ember.cli", "plugins", "--json", "--all")

    [builtin] = json.loads(done.stdout)
    assert builtin["name"] == "ember.builtin"
    assert builtin["distribution"] == "ember-core"


def test_broken_plugin_is_reported_with_the_way_out(sandbox: Sandbox) -> None:
    sandbox.add_plugin("broken", "import ember_missing_dependency\n")

    done = sandbox.run("-m", "ember.cli", "plugins")

    assert done.returncode == 1
    assert "EMBER_DISABLE_PLUGINS=broken" in done.stderr
    assert "Traceback" not in done.stderr


def test_respects_the_disable_variable(sandbox: Sandbox) -> None:
    sandbox.add_plugin("broken", "import ember_missing_dependency\n")
    sandbox.add_plugin("greeter", GREETER)

    done = sandbox.run("-m", "ember.cli", "plugins", env={"EMBER_DISABLE_PLUGINS": "broken"})

    assert done.returncode == 0
    assert done.stdout.split()[0] == "greeter"


def test_run_logs_the_plugins_when_it_starts(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.add_plugin("greeter", GREETER, version="2.0.1")
    (sandbox.root / "greeting_app.py").write_text("from ember import Ember\napp = Ember()\n")
    log = tmp_path / "run.log"
    command = sandbox.command(
        "-m", "ember.cli", "run", "greeting_app:app", "--port", str(free_port())
    )
    with log.open("w") as output:
        server = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=sandbox.environment(),
            cwd=sandbox.root,
        )
        try:
            deadline = time.monotonic() + 20
            while "Uvicorn running" not in log.read_text() and time.monotonic() < deadline:
                assert server.poll() is None, log.read_text()
                time.sleep(0.05)
        finally:
            server.terminate()
            server.wait(timeout=10)

    assert "ember plugins: greeter-2.0.1" in log.read_text()
