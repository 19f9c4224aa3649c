"""MemorySessionStore: bounded by size, TTL and LRU; its lock; replay buffer TTLs."""

from __future__ import annotations

import asyncio

import pytest
from ember.ai.sessions import MemorySessionStore, SessionBusy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


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
