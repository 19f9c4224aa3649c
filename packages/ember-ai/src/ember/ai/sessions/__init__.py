"""Sessions: server-issued ids, the store protocol and the stores.

A session id is 128 random bits in hex, issued by the server; a client only
ever echoes one back. The store key is the id, prefixed with a hash of the
principal (API key, user) when a plugin identifies one, so an id that leaks
is worthless to anyone else. The stores keep three things per session: the
message history, a lock that serializes turns, and the replay buffer of the
latest streamed events (with a short-lived mark while a client resumes it).
"""

from __future__ import annotations

from .base import (
    Lease,
    SessionBusy,
    SessionStore,
    SessionStoreUnavailable,
    StoredEvent,
    is_session_id,
    new_session_id,
    store_key,
)
from .memory import MemorySessionStore

__all__ = [
    "Lease",
    "MemorySessionStore",
    "SessionBusy",
    "SessionStore",
    "SessionStoreUnavailable",
    "StoredEvent",
    "is_session_id",
    "new_session_id",
    "store_key",
]
