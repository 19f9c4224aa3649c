"""The in-memory session store: one process, bounded by size, TTL and LRU.

Sessions sit in an ``OrderedDict`` in least-recently-used order. Every access
moves a session to the end, so the expired and the least recently used are
always at the front, where inserts trim them: no background sweeper needed.
Use it for one worker; several workers (or restarts) need the Redis store.

A session's replay buffer holds its latest stream only: the first event of
a new stream drops the last one's. The buffer is freed ``replay_ttl`` seconds
after its last event -- a second queue, ordered by that expiry, is trimmed
the same way -- so a streamed reply costs memory for minutes, not for the
session's whole life.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .base import SessionBusy, StoredEvent

if TYPE_CHECKING:
    from ..context import Message


class _Session:
    __slots__ = (
        "changed",
        "events",
        "events_until",
        "expires",
        "messages",
        "reader_until",
        "seq",
    )

    def __init__(self, expires: float) -> None:
        self.messages: list[Message] = []
        self.expires = expires
        self.seq = 0
        self.events: deque[StoredEvent] | None = None  # the latest stream's, while replayable
        self.events_until = 0.0  # when the replay buffer expires
        self.changed: asyncio.Event | None = None
        self.reader_until = 0.0  # see mark_reader


class _Lock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class MemorySessionStore:
    """Sessions in this process's memory.

    ``max_sessions`` bounds the count (the least recently used goes first),
    ``ttl`` is the idle time in seconds after which a session is gone,
    ``replay_events`` bounds each session's replay buffer and ``replay_ttl``
    how long (seconds) a streamed event can be replayed.
    """

    def __init__(
        self,
        *,
        max_sessions: int = 100_000,
        ttl: float = 24 * 3600,
        replay_events: int = 1000,
        replay_ttl: float = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_sessions < 1 or ttl <= 0 or replay_events < 1 or replay_ttl <= 0:
            raise ValueError("max_sessions, ttl, replay_events and replay_ttl must be positive")
        self.max_sessions = max_sessions
        self.ttl = ttl
        self.replay_events = replay_events
        self.replay_ttl = replay_ttl
        self._clock = clock
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._locks: dict[str, _Lock] = {}
        # Keys of sessions holding a replay buffer, oldest expiry first.
        self._buffered: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def _get(self, key: str) -> _Session | None:
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self._clock()
        if session.expires <= now:
            del self._sessions[key]
            return None
        session.expires = now + self.ttl
        self._sessions.move_to_end(key)
        return session

    def _trim(self) -> None:
        now = self._clock()
        sessions = self._sessions
        while sessions:
            key, oldest = next(iter(sessions.items()))
            if oldest.expires > now and len(sessions) <= self.max_sessions:
                return
            del sessions[key]

    async def exists(self, key: str) -> bool:
        return self._get(key) is not None

    async def create(self, key: str) -> None:
        if self._get(key) is None:
            self._sessions[key] = _Session(self._clock() + self.ttl)
            self._trim()

    async def load(self, key: str) -> list[Message] | None:
        session = self._get(key)
        return None if session is None else list(session.messages)

    async def save(self, key: str, messages: Sequence[Message], *, replace: bool) -> None:
        session = self._get(key)
        if session is None:  # expired or evicted mid-turn: the turn recreates it
            await self.create(key)
            session = self._sessions[key]
        if replace:
            session.messages = list(messages)
        else:
            session.messages.extend(messages)

    async def acquire(self, key: str, wait: float) -> _Lease:
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = _Lock()
        entry.users += 1
        try:
            await asyncio.wait_for(entry.lock.acquire(), wait)
        except TimeoutError:
            self._forget_lock(key, entry)
            raise SessionBusy(key) from None
        return _Lease(self, key, entry)

    def _forget_lock(self, key: str, entry: _Lock) -> None:
        entry.users -= 1
        if entry.users == 0 and self._locks.get(key) is entry:
            del self._locks[key]

    # ------------------------------------------------------------ replay buffer

    async def append_event(self, key: str, body: bytes, *, final: bool) -> int:
        session = self._get(key)
        if session is None:
            await self.create(key)
            session = self._sessions[key]
        now = self._clock()
        events = session.events
        if events is None or (events and events[-1].final) or session.events_until <= now:
            events = session.events = deque(maxlen=self.replay_events)  # a new stream
        session.seq += 1
        events.append(StoredEvent(session.seq, body, final))
        session.events_until = now + self.replay_ttl
        self._buffered[key] = session.events_until
        self._buffered.move_to_end(key)
        self._free_expired_buffers(now)
        if session.changed is not None:
            session.changed.set()
            session.changed = None
        return session.seq

    def _free_expired_buffers(self, now: float) -> None:
        buffered = self._buffered
        while buffered:
            key, until = next(iter(buffered.items()))
            if until > now:
                return
            del buffered[key]
            session = self._sessions.get(key)
            if session is not None and session.events_until <= now:
                session.events = None

    def _live(self, session: _Session) -> list[StoredEvent]:
        if session.events is None or session.events_until <= self._clock():
            return []
        return list(session.events)

    async def events_since(self, key: str, event_id: int) -> list[StoredEvent] | None:
        session = self._get(key)
        if session is None:
            return None
        events = [event for event in self._live(session) if event.id >= event_id]
        return events if events and events[0].id == event_id else None

    async def wait_events(self, key: str, last_id: int, wait: float) -> list[StoredEvent]:
        session = self._get(key)
        if session is None:
            return []
        events = [event for event in self._live(session) if event.id > last_id]
        if events:
            return events
        if session.changed is None:
            session.changed = asyncio.Event()
        try:
            await asyncio.wait_for(session.changed.wait(), wait)
        except TimeoutError:
            return []
        return [event for event in self._live(session) if event.id > last_id]

    async def mark_reader(self, key: str, ttl: float) -> None:
        session = self._get(key)
        if session is not None:
            session.reader_until = self._clock() + ttl

    async def has_reader(self, key: str) -> bool:
        session = self._sessions.get(key)
        return session is not None and session.reader_until > self._clock()

    async def close(self) -> None:
        return None


class _Lease:
    __slots__ = ("_entry", "_key", "_released", "_store")

    def __init__(self, store: MemorySessionStore, key: str, entry: _Lock) -> None:
        self._store, self._key, self._entry = store, key, entry
        self._released = False

    async def release(self) -> None:
        if not self._released:
            self._released = True
            self._entry.lock.release()
            self._store._forget_lock(self._key, self._entry)


__all__ = ["MemorySessionStore"]
