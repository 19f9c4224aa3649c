"""The Redis session store: sessions shared by every process, surviving restarts.

Keys (all under ``prefix``, with the session key in a hash tag so one
session's keys share a cluster slot):

- ``{key}:meta``    marks the session as issued; its TTL is the session's life
- ``{key}:msgs``    the history, a list of JSON messages (appends are RPUSH)
- ``{key}:lock``    the turn lock (redis-py's token lock, extended while held)
- ``{key}:seq``     the event-id counter of the replay buffer
- ``{key}:events``  the replay buffer of the latest stream, a Redis stream
                    whose entry ids are the event ids, so "events after N"
                    is one XRANGE and a live tail is one blocking XREAD
- ``{key}:reader``  set, with a short TTL, while a client resumes the stream

Needs the ``redis`` extra: ``pip install "ember-ai[redis]"``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..context import Message
from .base import SessionBusy, SessionStoreUnavailable, StoredEvent

# What a Redis that is down, restarting or unreachable raises.
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)

# INCR the counter and XADD the event under that id in one atomic step, so ids
# from concurrent processes never collide and the stream stays ordered. The
# buffer holds the latest stream only: after a final event, the next event
# starts it afresh.
_APPEND_EVENT = """
local id = redis.call('INCR', KEYS[1])
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
-- last[2] is the entry's fields as XADD below writes them: b, body, f, final
if last and last[2][4] == '1' then
  redis.call('DEL', KEYS[2])
end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[1], id .. '-0', 'b', ARGV[2], 'f', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return id
"""


class RedisSessionStore:
    """Sessions in Redis. ``target`` is a URL (``redis://host:6379/0``) or a
    ``redis.asyncio.Redis`` client; each app process opens its own pool.

    ``ttl`` is a session's idle life in seconds; ``lock_ttl`` how long a lock
    outlives a crashed holder (a live holder keeps extending it);
    ``replay_events`` and ``replay_ttl`` bound the replay buffer. Every call
    is bounded by ``timeout`` seconds (plus what it is asked to wait for); a
    Redis that does not answer in time, or cannot be reached, raises
    ``SessionStoreUnavailable``.
    """

    def __init__(
        self,
        target: str | aioredis.Redis,
        *,
        prefix: str = "ember:ai:",
        ttl: float = 24 * 3600,
        lock_ttl: float = 30.0,
        replay_events: int = 1000,
        replay_ttl: float = 300,
        timeout: float = 5.0,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        self._redis: aioredis.Redis = (
            aioredis.Redis.from_url(target) if isinstance(target, str) else target
        )
        self._owns_client = isinstance(target, str)
        self.prefix = prefix
        self.ttl_ms = int(ttl * 1000)
        self.lock_ttl = lock_ttl
        self.replay_events = replay_events
        self.replay_ttl_ms = int(replay_ttl * 1000)
        self._append = self._redis.register_script(_APPEND_EVENT)

    def __repr__(self) -> str:
        return f"<RedisSessionStore prefix={self.prefix!r}>"

    def _k(self, key: str, part: str) -> str:
        return f"{self.prefix}{{{key}}}:{part}"

    @contextlib.asynccontextmanager
    async def _reaching(self, wait: float = 0.0) -> AsyncIterator[None]:
        """Bound one exchange with Redis and name its failure plainly."""
        try:
            async with asyncio.timeout(self.timeout + wait):
                yield
        except _UNREACHABLE as exc:
            reason = "did not answer in time" if isinstance(exc, TimeoutError) else "is unreachable"
            raise SessionStoreUnavailable(f"the Redis session store {reason}") from exc

    async def exists(self, key: str) -> bool:
        async with self._reaching():
            return bool(await self._redis.exists(self._k(key, "meta")))

    async def create(self, key: str) -> None:
        async with self._reaching():
            await self._redis.set(self._k(key, "meta"), b"1", px=self.ttl_ms, nx=True)

    async def load(self, key: str) -> list[Message] | None:
        async with self._reaching():
            meta, msgs = self._k(key, "meta"), self._k(key, "msgs")
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.pexpire(meta, self.ttl_ms)
                pipe.lrange(msgs, 0, -1)
                pipe.pexpire(msgs, self.ttl_ms)
                alive, raw, _ = await pipe.execute()
            if not alive:
                return None
            return [Message.from_dict(orjson.loads(item)) for item in raw]

    async def save(self, key: str, messages: Sequence[Message], *, replace: bool) -> None:
        async with self._reaching():
            meta, msgs = self._k(key, "meta"), self._k(key, "msgs")
            async with self._redis.pipeline(transaction=True) as pipe:
                if replace:
                    pipe.delete(msgs)
                if messages:
                    pipe.rpush(msgs, *[orjson.dumps(m.to_dict()) for m in messages])
                pipe.set(meta, b"1", px=self.ttl_ms)
                pipe.pexpire(msgs, self.ttl_ms)
                await pipe.execute()

    async def acquire(self, key: str, wait: float) -> _Lease:
        async with self._reaching(wait):
            lock = self._redis.lock(
                self._k(key, "lock"),
                timeout=self.lock_ttl,
                sleep=0.01,
                blocking_timeout=wait,
                thread_local=False,
            )
            if not await lock.acquire():
                raise SessionBusy(key)
            return _Lease(lock, self.lock_ttl, self.timeout)

    async def append_event(self, key: str, body: bytes, *, final: bool) -> int:
        async with self._reaching():
            result = await self._append(
                keys=[self._k(key, "seq"), self._k(key, "events")],
                args=[
                    self.replay_events,
                    body,
                    b"1" if final else b"0",
                    self.replay_ttl_ms,
                    self.ttl_ms,
                ],
            )
            return int(result)

    @staticmethod
    def _decode(entries: Any) -> list[StoredEvent]:
        return [
            StoredEvent(int(entry_id.split(b"-")[0]), fields[b"b"], fields[b"f"] == b"1")
            for entry_id, fields in entries
        ]

    async def events_since(self, key: str, event_id: int) -> list[StoredEvent] | None:
        async with self._reaching():
            entries = await self._redis.xrange(self._k(key, "events"), f"{event_id}-0", "+")
            events = self._decode(entries)
            return events if events and events[0].id == event_id else None

    async def wait_events(self, key: str, last_id: int, wait: float) -> list[StoredEvent]:
        async with self._reaching(wait):
            reply: Any = await self._redis.xread(
                {self._k(key, "events"): f"{last_id}-0"}, block=max(int(wait * 1000), 1)
            )
            return self._decode(reply[0][1]) if reply else []

    async def mark_reader(self, key: str, ttl: float) -> None:
        async with self._reaching():
            await self._redis.set(self._k(key, "reader"), b"1", px=max(int(ttl * 1000), 1))

    async def has_reader(self, key: str) -> bool:
        async with self._reaching():
            return bool(await self._redis.exists(self._k(key, "reader")))

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()


class _Lease:
    """A held Redis lock, extended in the background until released, so a
    long stream keeps its session while a crashed process frees it soon."""

    def __init__(self, lock: Any, ttl: float, timeout: float) -> None:
        self._lock = lock
        self._timeout = timeout
        self._keeper = asyncio.get_running_loop().create_task(self._keep(ttl))

    async def _keep(self, ttl: float) -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            # A lost lock, or Redis away for a moment: try again next time; if
            # Redis stays away the lock expires, as for a crashed holder.
            with contextlib.suppress(LockError, *_UNREACHABLE):
                async with asyncio.timeout(self._timeout):
                    await self._lock.reacquire()

    async def release(self) -> None:
        self._keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._keeper
        # The lock may have expired (a stalled process): then it is not ours.
        # With Redis unreachable it expires by itself, ``lock_ttl`` from now.
        with contextlib.suppress(LockError, *_UNREACHABLE):
            async with asyncio.timeout(self._timeout):
                await self._lock.release()


__all__ = ["RedisSessionStore"]
