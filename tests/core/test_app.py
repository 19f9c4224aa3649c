"""The Ember app object: options, plugin-provided methods, workers and app.run()."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from core_helpers import make_app, wait_until
from ember import ConfigError, Ember
from servers import free_port


def test_an_unknown_option_is_a_type_error_naming_the_valid_ones() -> None:
    with pytest.raises(TypeError) as caught:
        Ember(unknown=1)
    message = str(caught.value)
    assert "'unknown'" in message
    for option in ("debug", "lifespan", "max_body_size", "plugins", "sse_ping_interval"):
        assert option in message


def test_an_unknown_route_option_is_a_config_error() -> None:
    app = make_app()
    with pytest.raises(ConfigError, match="token_limits"):
        app.add_route("/", lambda: None, token_limits=object())


def test_a_route_option_left_at_none_is_accepted() -> None:
    route = make_app().add_route("/", lambda: None, token_limits=None)
    assert route.options == {"token_limits": None}


def test_a_missing_first_party_method_names_the_extra_to_install() -> None:
    with pytest.raises(AttributeError, match=r'pip install "ember\[ai\]"'):
        make_app().ai_route  # noqa: B018 - the attribute access is the test


def test_an_unknown_attribute_is_a_plain_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        make_app().nothing_here  # noqa: B018


def test_workers_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBER_WORKERS", "3")
    assert make_app().workers == 3
    monkeypatch.delenv("EMBER_WORKERS")
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert make_app().workers == 1


def test_the_import_string_of_an_app_in_an_imported_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ember_core_test_served_module.py").write_text(
        "from ember import Ember\nservice = Ember(load_entry_points=False)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    import ember_core_test_served_module as module  # type: ignore[import-not-found]

    try:
        assert module.service._import_string() == (
            "ember_core_test_served_module:service",
            str(tmp_path),
        )
    finally:
        sys.modules.pop("ember_core_test_served_module", None)


def test_an_app_no_module_holds_cannot_get_an_import_string() -> None:
    with pytest.raises(ConfigError, match="ember run module:app --workers N"):
        make_app()._import_string()


_SCRIPT = """
import os
import sys

from ember import Ember

app = Ember()


@app.get("/who")
async def who():
    return {"pid": os.getpid(), "workers": app.workers}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), workers=2, log_level="warning")
"""


def test_run_with_two_workers_serves_a_script_by_import_string(tmp_path: Path) -> None:
    script = tmp_path / "two_workers_app.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(script), str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/who", timeout=2).status_code == 200
            except httpx.TransportError:
                return process.poll() is not None

        assert wait_until(answers, timeout=30)
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        body = httpx.get(f"http://127.0.0.1:{port}/who", timeout=5).json()
        # Served by a worker process that imported the script by its import
        # string, not by the process that called app.run().
        assert body["workers"] == 2
        assert body["pid"] != process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def test_run_with_one_worker_serves_the_app_object(tmp_path: Path) -> None:
    script = tmp_path / "one_worker_app.py"
    script.write_text(textwrap.dedent(_SCRIPT).replace("workers=2", "workers=1"))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(script), str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/who", timeout=2).status_code == 200
            except httpx.TransportError:
                return process.poll() is not None

        assert wait_until(answers, timeout=30)
        body = httpx.get(f"http://127.0.0.1:{port}/who", timeout=5).json()
        assert body == {"pid": process.pid, "workers": 1}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
