"""What every session store promises, run against both: in memory and on Redis.

Behaviour that only one store has (LRU eviction, TTLs on a fake clock, locks
that outlive their TTL, several processes) stays in that store's own file.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from ember.ai import Message, MessageRole
from ember.ai.sessions import MemorySessionStore, SessionStore
from ember.ai.sessions.redis import RedisSessionStore


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[SessionStore]:
    if request.param == "memory":
        yield MemorySessionStore(replay_events=3)
        return
    redis_url = request.getfixturevalue("redis_url")
    redis_store = RedisSessionStore(redis_url, prefix=f"test:{uuid.uuid4().hex}:", replay_events=3)
    try:
        yield redis_store
    finally:
        await redis_store.close()


def said(text: str) -> Message:
    return Message(MessageRole.USER, text)


async def test_an_unknown_session_loads_as_none(store: SessionStore) -> None:
    assert await store.load("nope") is None
    assert not await store.exists("nope")


async def test_save_appends_or_replaces(store: SessionStore) -> None:
    await store.create("s")
    await store.save("s", [said("one")], replace=False)
    await store.save("s", [said("two")], replace=False)
    assert [m.content for m in await store.load("s") or []] == ["one", "two"]
    await store.save("s", [said("three")], replace=True)
    assert [m.content for m in await store.load("s") or []] == ["three"]


async def test_the_replay_buffer_keeps_the_newest_events_in_order(store: SessionStore) -> None:
    await store.create("s")
    ids = [await store.append_event("s", b"data: %d\n\n" % i, final=i == 4) for i in range(5)]
    assert ids == [1, 2, 3, 4, 5]
    assert await store.events_since("s", 1) is None  # evicted: too old to replay
    since = await store.events_since("s", 3)
    assert since is not None
    assert [(e.id, e.final) for e in since] == [(3, False), (4, False), (5, True)]
    assert since[0].frame() == b"id: 3\ndata: 2\n\n"
    assert [e.id for e in await store.wait_events("s", 4, 0.05)] == [5]  # already there


async def test_a_new_stream_replaces_the_last_ones_events(store: SessionStore) -> None:
    await store.create("s")
    await store.append_event("s", b"data: a\n\n", final=False)
    await store.append_event("s", b"data: [DONE]\n\n", final=True)
    assert await store.append_event("s", b"data: next\n\n", final=False) == 3
    assert await store.events_since("s", 1) is None
    since = await store.events_since("s", 3)
    assert since is not None and [e.id for e in since] == [3]


async def test_wait_events_wakes_on_a_new_event(store: SessionStore) -> None:
    await store.create("s")
    waiting = asyncio.create_task(store.wait_events("s", 0, 5))
    await asyncio.sleep(0.05)
    await store.append_event("s", b"data: x\n\n", final=True)
    events = await asyncio.wait_for(waiting, 2)
    assert [(e.id, e.final) for e in events] == [(1, True)]


async def test_wait_events_returns_nothing_when_none_arrive(store: SessionStore) -> None:
    await store.create("s")
    await store.append_event("s", b"data: x\n\n", final=True)
    assert await store.wait_events("s", 1, 0.05) == []
