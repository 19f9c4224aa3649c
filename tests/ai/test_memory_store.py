"""MemorySessionStore: bounded by size, TTL and LRU; replay buffer bounds."""

from __future__ import annotations

import asyncio

import pytest
from ember.ai import Message, MessageRole
from ember.ai.sessions import MemorySessionStore, SessionBusy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def hello() -> Message:
    return Message(MessageRole.USER, "hello")


async def test_a_session_expires_after_its_idle_ttl() -> None:
    clock = Clock()
    store = MemorySessionStore(ttl=10, clock=clock)
    await store.create("a")
    clock.now = 9.9
    assert await store.exists("a")  # access slides the TTL
    clock.now = 19.8
    assert await store.load("a") == []
    clock.now = 29.9
    assert await store.load("a") is None


async def test_the_least_recently_used_session_goes_first_when_full() -> None:
    store = MemorySessionStore(max_sessions=2)
    await store.create("old")
    await store.create("used")
    await store.load("old")  # now "used" is the least recently used
    await store.create("new")
    assert await store.exists("old")
    assert await store.exists("new")
    assert not await store.exists("used")
    assert len(store) == 2


async def test_expired_sessions_are_dropped_when_others_arrive() -> None:
    clock = Clock()
    store = MemorySessionStore(ttl=5, clock=clock)
    for name in ("a", "b", "c"):
        await store.create(name)
    clock.now = 6
    await store.create("d")
    assert len(store) == 1


async def test_save_appends_or_replaces() -> None:
    store = MemorySessionStore()
    await store.create("s")
    await store.save("s", [hello()], replace=False)
    await store.save("s", [hello()], replace=False)
    assert len(await store.load("s") or []) == 2
    await store.save("s", [], replace=True)
    assert await store.load("s") == []


async def test_the_lock_serializes_and_times_out() -> None:
    store = MemorySessionStore()
    lease = await store.acquire("s", 1)
    with pytest.raises(SessionBusy):
        await store.acquire("s", 0.01)
    waiter = asyncio.create_task(store.acquire("s", 1))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await lease.release()
    second = await waiter
    await second.release()
    assert store._locks == {}  # no lock objects pile up for idle sessions


async def test_the_replay_buffer_keeps_only_the_newest_events() -> None:
    store = MemorySessionStore(replay_events=3)
    await store.create("s")
    ids = [await store.append_event("s", b"data: %d\n\n" % i, final=False) for i in range(5)]
    assert ids == [1, 2, 3, 4, 5]
    assert await store.events_since("s", 1) is None  # evicted
    since = await store.events_since("s", 3)
    assert since is not None
    assert [e.id for e in since] == [3, 4, 5]


async def test_replay_events_expire_after_the_replay_ttl() -> None:
    clock = Clock()
    store = MemorySessionStore(replay_ttl=5, clock=clock)
    await store.create("s")
    await store.append_event("s", b"data: x\n\n", final=False)
    clock.now = 6
    assert await store.events_since("s", 1) is None


async def test_a_stream_replays_until_the_ttl_after_its_last_event() -> None:
    clock = Clock()
    store = MemorySessionStore(replay_ttl=5, clock=clock)
    await store.create("s")
    await store.append_event("s", b"data: a\n\n", final=False)
    clock.now = 4
    await store.append_event("s", b"data: b\n\n", final=True)
    clock.now = 8  # 8 s after the first event, 4 s after the last
    since = await store.events_since("s", 1)
    assert since is not None and [e.id for e in since] == [1, 2]


async def test_a_new_stream_replaces_the_last_ones_events() -> None:
    store = MemorySessionStore()
    await store.create("s")
    await store.append_event("s", b"data: a\n\n", final=False)
    await store.append_event("s", b"data: [DONE]\n\n", final=True)
    assert await store.append_event("s", b"data: next\n\n", final=False) == 3
    assert await store.events_since("s", 1) is None
    since = await store.events_since("s", 3)
    assert since is not None and [e.id for e in since] == [3]


async def test_an_expired_buffer_is_freed_though_its_session_is_never_used_again() -> None:
    # Memory, not only visibility: a session idle for hours must not keep the
    # events of its last reply. Another session's stream frees it.
    clock = Clock()
    store = MemorySessionStore(replay_ttl=5, clock=clock)
    for key in ("idle", "busy"):
        await store.create(key)
    for n in range(100):
        await store.append_event("idle", b"data: %d\n\n" % n, final=n == 99)
    clock.now = 6
    await store.append_event("busy", b"data: x\n\n", final=False)
    assert store._sessions["idle"].events is None
    assert store._sessions["busy"].events is not None


async def test_wait_events_wakes_on_a_new_event() -> None:
    store = MemorySessionStore()
    await store.create("s")
    waiting = asyncio.create_task(store.wait_events("s", 0, 5))
    await asyncio.sleep(0.01)
    await store.append_event("s", b"data: x\n\n", final=True)
    events = await asyncio.wait_for(waiting, 1)
    assert [(e.id, e.final) for e in events] == [(1, True)]
