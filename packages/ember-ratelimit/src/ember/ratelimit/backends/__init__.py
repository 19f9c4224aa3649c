"""Where budgets live: in this process (``MemoryBackend``) or on Redis (``RedisBackend``).

Both give the same answers: a reservation is all-or-nothing across every
budget and concurrency slot it names, and a lease returns what a request that
died without settling had reserved.
"""

from .base import Backend, BackendUnavailable, Slot, Verdict
from .memory import MemoryBackend

__all__ = ["Backend", "BackendUnavailable", "MemoryBackend", "RedisBackend", "Slot", "Verdict"]


def __getattr__(name: str) -> object:
    # Importing redis is the [redis] extra's business: only on demand.
    if name == "RedisBackend":
        from .redis import RedisBackend

        return RedisBackend
    raise AttributeError(name)
