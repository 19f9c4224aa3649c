"""Start-up and shutdown: the ASGI lifespan protocol, its order and its failures."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from core_helpers import live_server, make_app
from ember import Ember, StartupError, hookimpl


async def _lifespan(app: Ember) -> list[dict[str, Any]]:
    """Drive a full start-up and shutdown; return what the app sent."""
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "lifespan.startup.complete":
            await incoming.put({"type": "lifespan.shutdown"})

    await incoming.put({"type": "lifespan.startup"})
    await asyncio.wait_for(app({"type": "lifespan"}, incoming.get, send), timeout=10)
    return sent


def _recording_app(events: list[str], **options: Any) -> Ember:
    class Plugin:
        @hookimpl
        def ember_startup(self, app: Ember) -> Callable[[], Any]:
            async def start() -> None:
                events.append("plugin startup")

            return start

        @hookimpl
        def ember_shutdown(self, app: Ember) -> Callable[[], Any]:
            async def stop() -> None:
                events.append("plugin shutdown")

            return stop

    @contextlib.asynccontextmanager
    async def lifespan(app: Ember) -> AsyncIterator[None]:
        events.append("lifespan enter")
        yield
        events.append("lifespan exit")

    app = make_app(plugins=[Plugin()], lifespan=lifespan, **options)

    @app.on_startup
    async def first() -> None:
        events.append("on_startup async")

    @app.on_startup
    def second() -> None:
        events.append("on_startup sync")

    @app.on_shutdown
    async def third() -> None:
        events.append("on_shutdown")

    return app


async def test_startup_and_shutdown_run_in_order() -> None:
    events: list[str] = []
    sent = await _lifespan(_recording_app(events))
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert events == [
        "plugin startup",
        "on_startup async",
        "on_startup sync",
        "lifespan enter",
        "lifespan exit",
        "on_shutdown",
        "plugin shutdown",
    ]


async def test_a_startup_exception_reports_startup_failed() -> None:
    app = make_app()

    @app.on_startup
    async def broken() -> None:
        raise RuntimeError("database unreachable")

    sent = await _lifespan(app)
    assert sent == [
        {"type": "lifespan.startup.failed", "message": "RuntimeError: database unreachable"}
    ]


async def test_a_startup_error_reports_just_its_message(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()

    @app.on_startup
    def refuse() -> None:
        raise StartupError("set OPENAI_API_KEY first")

    with caplog.at_level(logging.ERROR, logger="ember"):
        sent = await _lifespan(app)
    assert sent == [{"type": "lifespan.startup.failed", "message": "set OPENAI_API_KEY first"}]
    assert "Traceback" not in caplog.text
    assert "set OPENAI_API_KEY first" in caplog.text


async def test_a_failed_startup_stops_later_startup_work() -> None:
    events: list[str] = []
    app = make_app()

    @app.on_startup
    def broken() -> None:
        raise RuntimeError("no")

    @app.on_startup
    def later() -> None:
        events.append("later")

    await _lifespan(app)
    assert events == []


async def test_a_shutdown_failure_is_logged_and_the_rest_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[str] = []
    app = make_app()

    @app.on_shutdown
    def broken() -> None:
        raise RuntimeError("flush failed")

    @app.on_shutdown
    def later() -> None:
        events.append("later shutdown ran")

    with caplog.at_level(logging.ERROR, logger="ember"):
        sent = await _lifespan(app)
    assert sent[-1] == {"type": "lifespan.shutdown.complete"}
    assert events == ["later shutdown ran"]
    assert "flush failed" in caplog.text


async def test_a_lifespan_context_failing_on_exit_still_runs_shutdown_handlers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Ember) -> AsyncIterator[None]:
        yield
        raise RuntimeError("exit broke")

    app = make_app(lifespan=lifespan)
    app.on_shutdown(lambda: events.append("shutdown"))
    with caplog.at_level(logging.ERROR, logger="ember"):
        sent = await _lifespan(app)
    assert sent[-1] == {"type": "lifespan.shutdown.complete"}
    assert events == ["shutdown"]
    assert "exit broke" in caplog.text


def test_uvicorn_runs_startup_before_serving_and_shutdown_on_exit() -> None:
    import httpx

    events: list[str] = []
    app = _recording_app(events)

    @app.get("/events")
    async def seen() -> list[str]:
        return list(events)

    with live_server(app) as url:
        served = httpx.get(f"{url}/events", timeout=10).json()
    assert served == [
        "plugin startup",
        "on_startup async",
        "on_startup sync",
        "lifespan enter",
    ]
    assert events[-3:] == ["lifespan exit", "on_shutdown", "plugin shutdown"]
