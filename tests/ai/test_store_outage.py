"""Redis down or silent under ai_route: a clear 503, a log line, nothing half-done.

Each test has its own redis-server (or none at all), since they stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from ember import Ember, Request
from ember.ai import ConversationContext, MessageRole
from ember.ai.sessions import SessionStoreUnavailable
from ember.ai.sessions.redis import RedisSessionStore
from servers import free_port, live_server, redis_server


def client(app: Ember) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://test", timeout=10)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung Redis)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def plain_app(store: RedisSessionStore, calls: list[str]) -> Ember:
    app = Ember(session_store=store)

    @app.ai_route("/chat")
    async def chat(request: Request, context: ConversationContext) -> dict[str, str]:
        calls.append("called")
        context.add_message(MessageRole.USER, "hi")
        return {"ok": "yes"}

    return app


async def test_an_unreachable_redis_is_a_503_before_the_handler_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []
    store = RedisSessionStore(f"redis://127.0.0.1:{free_port()}/0")
    async with client(plain_app(store, calls)) as http:
        response = await http.post("/chat", json={})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    error = response.json()["error"]
    assert error["code"] == "session_store_unavailable" and "unreachable" in error["message"]
    assert calls == []
    assert "session store is unreachable" in caplog.text


async def test_a_redis_that_never_answers_is_a_503_within_the_timeout(silent_port: int) -> None:
    calls: list[str] = []
    store = RedisSessionStore(f"redis://127.0.0.1:{silent_port}/0", timeout=0.3)
    async with client(plain_app(store, calls)) as http:
        response = await asyncio.wait_for(http.post("/chat", json={}), 5)
    assert response.status_code == 503
    assert "did not answer in time" in response.json()["error"]["message"]
    assert calls == []


async def test_the_store_raises_its_own_error_not_redis_pys() -> None:
    store = RedisSessionStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(SessionStoreUnavailable):
        await store.exists("some-key")
    await store.close()


def test_a_store_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout"):
        RedisSessionStore("redis://127.0.0.1:6379/0", timeout=0)


def test_redis_stopping_mid_stream_ends_the_stream_with_the_error_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    redis_stopped = threading.Event()
    closed = threading.Event()
    with redis_server() as url:
        store = RedisSessionStore(url, timeout=1.0)
        app = Ember(session_store=store)

        @app.ai_route("/chat", streaming=True)
        async def chat(context: ConversationContext) -> AsyncIterator[str]:
            context.add_message(MessageRole.USER, "hi")
            try:
                yield "first "
                await asyncio.to_thread(redis_stopped.wait, 10)  # the test stops Redis here
                yield "second "
                yield "third"
            finally:
                closed.set()

        with live_server(app) as base, httpx.stream("POST", base + "/chat", json={}) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            for line in lines:
                if line.startswith("data: first"):
                    break
            _stop_redis_on(int(url.rsplit(":", 1)[1].split("/")[0]))
            redis_stopped.set()
            rest = list(lines)
    assert "event: error" in rest
    [data] = [line for line in rest if line.startswith("data: {")]
    assert '"code":"session_store_unavailable"' in data
    assert not any(line.startswith("data: second") for line in rest)
    assert closed.wait(2)  # the handler's generator was closed, its upstream with it
    assert "an ai_route stream failed after it began" in caplog.text


async def test_an_answer_whose_turn_cannot_be_saved_is_still_delivered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The handler ran (a model may have been paid for): the client gets its
    # answer, and the log says the turn was not kept.
    with redis_server() as url:
        store = RedisSessionStore(url, timeout=1.0)
        app = Ember(session_store=store)

        @app.ai_route("/chat")
        async def chat(context: ConversationContext) -> dict[str, str]:
            context.add_message(MessageRole.USER, "hi")
            _stop_redis_on(int(url.rsplit(":", 1)[1].split("/")[0]))
            return {"answer": "42"}

        async with client(app) as http:
            response = await http.post("/chat", json={})
    assert response.status_code == 200 and response.json() == {"answer": "42"}
    assert "answered but not saved" in caplog.text
    await store.close()


def _stop_redis_on(port: int) -> None:
    """Stop the redis-server listening on ``port``, as an outage would."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
        connection.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
        with contextlib.suppress(OSError):  # the server closes the connection as it stops
            connection.recv(64)
