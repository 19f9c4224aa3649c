"""The resume grace over real sockets: a streamed reply whose client left goes
on only while someone may resume it, then the handler's generator is closed
(so its upstream request would be too) and the partial reply is recorded."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ember import Ember
from ember.ai.sessions import MemorySessionStore
from ember.ai.sessions.redis import RedisSessionStore
from ember.errors import ConfigError
from servers import uvicorn_server

HERE = Path(__file__).resolve().parent
GRACE = 1.0
TOKEN_TIME = 0.05  # the app's delay before each token


def events(text: str) -> list[dict[str, str]]:
    found = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        if fields:
            found.append(fields)
    return found


def cut_after(base: str, event_id: int, count: int) -> str:
    """Start a stream of ``count`` tokens, drop it after event ``event_id``;
    return the session id."""
    with httpx.stream("POST", f"{base}/stream", json={"count": count}, timeout=10) as response:
        session = response.headers["x-session-id"]
        for line in response.iter_lines():
            if line == f"id: {event_id}":
                break
    return session


def resume(base: str, session: str, last_id: int) -> list[dict[str, str]]:
    response = httpx.post(
        f"{base}/stream",
        json={"count": 0},
        headers={"X-Session-ID": session, "Last-Event-ID": str(last_id)},
        timeout=30,
    )
    assert response.status_code == 200
    return events(response.text)


def closed_within(base: str, session: str, seconds: float) -> int | None:
    """How many tokens the session's generator had sent when it was closed,
    or None if it is still open after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        closed = httpx.get(f"{base}/closed", timeout=10).json()
        if session in closed or time.monotonic() > deadline:
            return closed.get(session)
        time.sleep(0.05)


def history(base: str, session: str) -> list[str]:
    deadline = time.monotonic() + 10
    while True:
        found = httpx.get(f"{base}/history", headers={"X-Session-ID": session}, timeout=10).json()
        if found or time.monotonic() > deadline:
            return list(found)
        time.sleep(0.05)


def whole(count: int) -> str:
    return "".join(f"t{i} " for i in range(count))


@pytest.fixture(scope="module")
def graced() -> Iterator[str]:
    with uvicorn_server(
        "abandoned_app:app", app_dir=HERE, env={"EMBER_TEST_GRACE": str(GRACE)}
    ) as base:
        yield base


def test_a_reply_nobody_resumes_is_closed_after_the_grace(graced: str) -> None:
    session = cut_after(graced, 3, count=400)  # 20 s of tokens
    sent = closed_within(graced, session, GRACE + 1.0)
    assert sent is not None, "the generator should have been closed after the grace"
    assert 3 <= sent < 400


def test_the_partial_reply_of_an_abandoned_stream_is_recorded(graced: str) -> None:
    session = cut_after(graced, 3, count=400)
    sent = closed_within(graced, session, 10)
    assert sent is not None
    assert history(graced, session) == ["assistant:" + whole(sent)]


def test_a_late_resume_learns_the_reply_was_abandoned(graced: str) -> None:
    session = cut_after(graced, 3, count=400)
    sent = closed_within(graced, session, 10)
    assert sent is not None
    rest = resume(graced, session, 3)
    assert [e["data"] for e in rest[:-1]] == [f"t{i} " for i in range(3, sent)]
    assert rest[-1]["event"] == "error"
    assert json.loads(rest[-1]["data"])["error"]["code"] == "reply_abandoned"


def test_a_resume_within_the_grace_keeps_the_reply_going_to_its_end(graced: str) -> None:
    count = 60  # 3 s of tokens: the reply outlives the grace
    session = cut_after(graced, 3, count=count)
    rest = resume(graced, session, 3)
    assert [e["data"] for e in rest[:-1]] == [f"t{i} " for i in range(3, count)]
    assert rest[-1]["event"] == "done"
    assert closed_within(graced, session, 10) == count


def test_a_reader_in_another_process_keeps_the_producer_going(redis_url: str) -> None:
    env = {
        "EMBER_TEST_REDIS": redis_url,
        "EMBER_TEST_PREFIX": f"test:{uuid.uuid4().hex}:",
        "EMBER_TEST_GRACE": str(GRACE),
    }
    with (
        uvicorn_server("abandoned_app:app", app_dir=HERE, env=env) as producer,
        uvicorn_server("abandoned_app:app", app_dir=HERE, env=env) as reader,
    ):
        count = 60
        session = cut_after(producer, 3, count=count)
        rest = resume(reader, session, 3)
        assert [e["data"] for e in rest[:-1]] == [f"t{i} " for i in range(3, count)]
        assert rest[-1]["event"] == "done"
        assert closed_within(producer, session, 10) == count


def test_a_reply_stopped_by_shutdown_tells_a_resuming_client(redis_url: str) -> None:
    env = {"EMBER_TEST_REDIS": redis_url, "EMBER_TEST_PREFIX": f"test:{uuid.uuid4().hex}:"}
    with uvicorn_server("abandoned_app:app", app_dir=HERE, env=env) as survivor:
        with uvicorn_server("abandoned_app:app", app_dir=HERE, env=env) as stopping:
            session = cut_after(stopping, 3, count=400)
        rest = resume(survivor, session, 3)
        recorded = history(survivor, session)
    assert [e["data"] for e in rest[:-1]] == [f"t{i} " for i in range(3, len(rest) + 2)]
    assert rest[-1]["event"] == "error"
    assert json.loads(rest[-1]["data"])["error"]["code"] == "reply_interrupted"
    assert recorded == ["assistant:" + whole(len(rest) + 2)]


def test_resume_grace_none_finishes_a_reply_nobody_resumes() -> None:
    count = 40
    env = {"EMBER_TEST_GRACE": "none"}
    with uvicorn_server("abandoned_app:app", app_dir=HERE, env=env) as base:
        session = cut_after(base, 3, count=count)
        assert history(base, session) == ["assistant:" + whole(count)]
        assert closed_within(base, session, 10) == count


def test_resume_grace_zero_closes_the_generator_at_once() -> None:
    with uvicorn_server("abandoned_app:app", app_dir=HERE, env={"EMBER_TEST_GRACE": "0"}) as base:
        session = cut_after(base, 3, count=400)
        sent = closed_within(base, session, 1.0)
        assert sent is not None and sent < 400
        assert history(base, session) == ["assistant:" + whole(sent)]


@pytest.mark.parametrize("value", [-1, "soon", True, float("nan")])
def test_a_bad_resume_grace_is_refused(value: object) -> None:
    with pytest.raises(ConfigError, match="resume_grace"):
        Ember(resume_grace=value)


async def test_a_reader_mark_lives_for_its_ttl_in_the_memory_store() -> None:
    now = [0.0]
    store = MemorySessionStore(clock=lambda: now[0])
    await store.create("s")
    assert not await store.has_reader("s")
    await store.mark_reader("s", 3.0)
    now[0] = 2.9
    assert await store.has_reader("s")
    now[0] = 3.1
    assert not await store.has_reader("s")


async def test_a_reader_mark_lives_for_its_ttl_in_the_redis_store(redis_url: str) -> None:
    store = RedisSessionStore(redis_url, prefix=f"test:{uuid.uuid4().hex}:")
    try:
        await store.create("s")
        assert not await store.has_reader("s")
        await store.mark_reader("s", 0.2)
        assert await store.has_reader("s")
        await asyncio.sleep(0.5)
        assert not await store.has_reader("s")
    finally:
        await store.close()
