"""Session ids, keys and the store protocol (see ``ember.ai.sessions``)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..context import Message

_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")


def new_session_id() -> str:
    """A fresh id: 128 bits from the OS's CSPRNG, as 32 hex digits."""
    return secrets.token_hex(16)


def is_session_id(value: str) -> bool:
    """Whether ``value`` has the shape of an id this server issues."""
    return bool(_SESSION_ID.match(value))


def store_key(session_id: str, principal: str | None) -> str:
    """The key a session lives under; the principal is hashed, never stored."""
    if not principal:
        return session_id
    digest = hashlib.sha256(principal.encode("utf-8")).hexdigest()[:32]
    return f"{digest}:{session_id}"


class SessionBusy(Exception):
    """The session's lock was not free within the wait."""


class SessionStoreUnavailable(Exception):
    """The store's backing service (Redis) could not be reached, or did not
    answer within the store's timeout. Stores raise it instead of their
    client library's errors, so ai_route can answer it clearly (a 503)."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event of the replay buffer. ``body`` is the SSE frame without its
    ``id:`` line; ``final`` marks the event that ends its stream."""

    id: int
    body: bytes
    final: bool

    def frame(self) -> bytes:
        return b"id: %d\n" % self.id + self.body


class Lease(Protocol):
    """A held session lock."""

    async def release(self) -> None: ...


@runtime_checkable
class SessionStore(Protocol):
    """Where sessions live. Every method is safe to call concurrently."""

    async def exists(self, key: str) -> bool:
        """Whether the session exists (and has not expired)."""
        ...

    async def create(self, key: str) -> None:
        """Create an empty session."""
        ...

    async def load(self, key: str) -> list[Message] | None:
        """The history, or ``None`` for an unknown session. Refreshes the TTL."""
        ...

    async def save(self, key: str, messages: Sequence[Message], *, replace: bool) -> None:
        """Append ``messages`` to the history, or replace it with them."""
        ...

    async def acquire(self, key: str, wait: float) -> Lease:
        """Take the session's lock, waiting at most ``wait`` seconds
        (else ``SessionBusy``)."""
        ...

    async def append_event(self, key: str, body: bytes, *, final: bool) -> int:
        """Buffer one stream event; return its id (increasing per session)."""
        ...

    async def events_since(self, key: str, event_id: int) -> list[StoredEvent] | None:
        """Buffered events from ``event_id`` on, that one included; ``None``
        when ``event_id`` is not in the buffer (expired, evicted or never issued)."""
        ...

    async def wait_events(self, key: str, last_id: int, wait: float) -> list[StoredEvent]:
        """Events after ``last_id``, waiting up to ``wait`` seconds for one to arrive."""
        ...

    async def mark_reader(self, key: str, ttl: float) -> None:
        """Note that a client is reading the session's stream, for ``ttl`` seconds."""
        ...

    async def has_reader(self, key: str) -> bool:
        """Whether a ``mark_reader`` mark of the session is still alive."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


__all__ = [
    "Lease",
    "SessionBusy",
    "SessionStore",
    "StoredEvent",
    "is_session_id",
    "new_session_id",
    "store_key",
]
