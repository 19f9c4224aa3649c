"""Token buckets: what a budget is, and the arithmetic of refilling one.

A bucket holds up to ``capacity`` tokens and gains ``refill_rate`` tokens per
second, measured on a monotonic clock (the Redis backend uses the server's
clock, so every process agrees). A request is admitted only if the bucket holds
its whole reservation; the bucket may go below zero only when a settlement
charges more than was reserved, and then admits nothing until it refills.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class TokenBucket:
    """A budget of ``capacity`` tokens refilled at ``refill_rate`` tokens per second."""

    capacity: float
    refill_rate: float

    def __post_init__(self) -> None:
        if not 0 < self.capacity < math.inf:
            raise ValueError(f"capacity must be a positive number, got {self.capacity!r}")
        if not 0 <= self.refill_rate < math.inf:
            raise ValueError(f"refill_rate must be zero or positive, got {self.refill_rate!r}")

    @classmethod
    def per_minute(cls, tokens: float) -> TokenBucket:
        """A bucket of ``tokens`` that refills fully in one minute."""
        return cls(capacity=float(tokens), refill_rate=tokens / 60)


class GlobalTokenBucket(TokenBucket):
    """The one budget every request shares, across all clients (and, on Redis,
    all processes): ``GlobalTokenBucket(capacity=100_000.0, refill_rate=100_000.0 / 60)``.
    """

    __slots__ = ()


class Budget(NamedTuple):
    """One bucket instance a request draws on: the global one, a route's bucket
    for one client key, or a client key's own bucket. ``key`` names its state."""

    key: str
    capacity: float
    refill_rate: float
    label: str  # for people: "global", "route /v1/chat", "key"


def refilled(level: float, elapsed: float, capacity: float, refill_rate: float) -> float:
    """The level after ``elapsed`` seconds of refill, never above capacity."""
    if elapsed <= 0:
        return min(level, capacity)
    return min(capacity, level + elapsed * refill_rate)


def seconds_until(level: float, wanted: float, refill_rate: float) -> float:
    """How long until a bucket at ``level`` holds ``wanted`` tokens (inf if never)."""
    missing = wanted - level
    if missing <= 0:
        return 0.0
    if refill_rate <= 0:
        return float("inf")
    return missing / refill_rate


__all__ = ["Budget", "GlobalTokenBucket", "TokenBucket", "refilled", "seconds_until"]
