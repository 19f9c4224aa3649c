"""Budgets in this process's memory: exact, fast, and not shared.

Each worker process has its own, so with several workers every one of them
admits the full budget (the plugin warns at start-up). Every operation runs
under one lock with no ``await`` inside, so it is atomic for coroutines and
threads alike -- but for ``peek`` at a full bucket, which reads one value and
changes nothing. The middleware calls the ``*_now`` methods directly: nothing
here ever waits, so no coroutine is needed.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from ..buckets import Budget, refilled, seconds_until
from .base import CONCURRENCY, TOKENS, Slot, Verdict

# Sweep idle state every this many reservations, so per-client keys cannot pile up.
_SWEEP_EVERY = 4096


class _Bucket:
    __slots__ = ("budget", "first_expiry", "leases", "level", "stamp")

    def __init__(self, budget: Budget, stamp: float) -> None:
        self.budget = budget
        self.level = budget.capacity
        self.stamp = stamp
        # lease id -> (amount, expiry); expiries grow with insertion (fixed lease
        # length). An OrderedDict, because finding the oldest entry of a plain
        # dict that had many deleted walks over every deleted slot.
        self.leases: OrderedDict[str, tuple[int, float]] = OrderedDict()
        # No lease expires before this (it may be older than the oldest lease
        # left): until then, expired leases need no looking for.
        self.first_expiry = math.inf


class MemoryBackend:
    """Budgets for one process. ``clock`` is injectable for tests (seconds, monotonic)."""

    def __init__(
        self, *, lease_seconds: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._slots: dict[str, OrderedDict[str, float]] = {}
        self._lock = threading.Lock()
        self._reservations = 0

    def _bucket(self, budget: Budget, now: float) -> _Bucket:
        bucket = self._buckets.get(budget.key)
        if bucket is None:
            bucket = self._buckets[budget.key] = _Bucket(budget, now)
            return bucket
        level = bucket.level
        capacity = budget.capacity
        if level != capacity:  # a full bucket stays full; else ``refilled``, inline
            elapsed = now - bucket.stamp
            if elapsed > 0:
                level = min(capacity, level + elapsed * budget.refill_rate)
            elif level > capacity:
                level = capacity
        if now >= bucket.first_expiry:
            leases = bucket.leases
            while leases:  # return what requests that never settled had reserved
                lease, (amount, expiry) = next(iter(leases.items()))
                if expiry > now:
                    break
                del leases[lease]
                level = min(budget.capacity, level + amount)
            bucket.first_expiry = next(iter(leases.values()))[1] if leases else math.inf
        bucket.level = level
        bucket.stamp = now
        return bucket

    def _holders(self, slot: Slot, now: float) -> OrderedDict[str, float]:
        holders = self._slots.get(slot.key)
        if holders is None:
            holders = self._slots[slot.key] = OrderedDict()
        while holders:
            lease, expiry = next(iter(holders.items()))
            if expiry > now:
                break
            del holders[lease]
        return holders

    async def reserve(
        self, budgets: Sequence[Budget], cost: int, slots: Sequence[Slot], lease: str
    ) -> Verdict:
        return self.reserve_now(budgets, cost, slots, lease)

    def peek(self, budgets: Sequence[Budget]) -> Verdict:
        """``reserve_now(budgets, 0, [], "")``, the answer to a request that
        reserves nothing and holds no slot, by a shorter way: the usual case
        (one budget, not overdrawn) changes nothing but the refill."""
        if len(budgets) == 1:
            budget = budgets[0]
            capacity = budget.capacity
            bucket = self._buckets.get(budget.key)
            if bucket is not None and bucket.level == capacity:
                # Full: no refill, and expired leases could not add to it. One
                # read, so no lock is needed to see a consistent level. The
                # answer is always the same: one object, whose headers are
                # formatted once.
                return _full(capacity)
            with self._lock:
                now = self.clock()
                if bucket is None:  # a new bucket counts towards the next sweep
                    self._reservations += 1
                    if self._reservations % _SWEEP_EVERY == 0:
                        self._sweep(now)
                level = self._bucket(budget, now).level
            if level >= 0:
                rate = budget.refill_rate
                reset = (capacity - level) / rate if rate > 0 else math.inf
                return Verdict(True, "", 0, level, reset if level < capacity else 0.0)
        return self.reserve_now(budgets, 0, (), "")

    def reserve_now(
        self, budgets: Sequence[Budget], cost: int, slots: Sequence[Slot], lease: str
    ) -> Verdict:
        """``reserve``, synchronously (it never waits for anything)."""
        with self._lock:
            now = self.clock()
            self._reservations += 1
            if self._reservations % _SWEEP_EVERY == 0:
                self._sweep(now)
            buckets = [self._bucket(b, now) for b in budgets]
            for slot in slots:
                if len(self._holders(slot, now)) >= slot.limit:
                    worst = _lowest(budgets, buckets)
                    return Verdict(False, CONCURRENCY, worst, *_state(budgets, buckets, worst))
            refused = [i for i, b in enumerate(buckets) if b.level < cost]
            if refused:
                wait = max(
                    seconds_until(buckets[i].level, cost, budgets[i].refill_rate) for i in refused
                )
                index = min(refused, key=lambda i: buckets[i].level - cost)
                return Verdict(False, TOKENS, index, *_state(budgets, buckets, index), wait)
            expiry = now + self.lease_seconds
            for bucket in buckets:
                bucket.level -= cost
                if cost:
                    if not bucket.leases:
                        bucket.first_expiry = expiry
                    bucket.leases[lease] = (cost, expiry)
            for slot in slots:
                self._holders(slot, now)[lease] = expiry
            index = _lowest(budgets, buckets)
            return Verdict(True, "", index, *_state(budgets, buckets, index))

    async def settle(
        self, budgets: Sequence[Budget], cost: int, slots: Sequence[Slot], lease: str, used: int
    ) -> None:
        self.settle_now(budgets, cost, slots, lease, used)

    def settle_now(
        self, budgets: Sequence[Budget], cost: int, slots: Sequence[Slot], lease: str, used: int
    ) -> None:
        """``settle``, synchronously."""
        with self._lock:
            now = self.clock()
            for budget in budgets:
                bucket = self._bucket(budget, now)
                held = bucket.leases.pop(lease, None)
                refund = held[0] - used if held is not None else -used
                bucket.level = min(budget.capacity, bucket.level + refund)
            for slot in slots:
                holders = self._slots.get(slot.key)
                if holders is not None:
                    holders.pop(lease, None)

    def level(self, budget: Budget) -> float:
        """The tokens ``budget`` holds now (for tests and benchmarks)."""
        with self._lock:
            return self._bucket(budget, self.clock()).level

    def tracked(self) -> int:
        """How many budgets and concurrency keys this backend holds in memory."""
        with self._lock:
            return len(self._buckets) + len(self._slots)

    def _sweep(self, now: float) -> None:
        # A bucket with no leases that would be full again is the same as no bucket.
        for key, bucket in list(self._buckets.items()):
            budget = bucket.budget
            full = refilled(bucket.level, now - bucket.stamp, budget.capacity, budget.refill_rate)
            if not bucket.leases and full >= budget.capacity:
                del self._buckets[key]
        for key in [k for k, holders in self._slots.items() if not holders]:
            del self._slots[key]

    async def aclose(self) -> None:
        return None


@functools.lru_cache(maxsize=256)
def _full(capacity: float) -> Verdict:
    return Verdict(True, "", 0, capacity, 0.0)


def _lowest(budgets: Sequence[Budget], buckets: Sequence[_Bucket]) -> int:
    # The budget closest to empty, relative to its size, is the one to report.
    if len(buckets) < 2:
        return len(buckets) - 1
    return min(range(len(buckets)), key=lambda i: buckets[i].level / budgets[i].capacity)


def _state(
    budgets: Sequence[Budget], buckets: Sequence[_Bucket], index: int
) -> tuple[float, float]:
    if index < 0:
        return 0.0, 0.0
    level = buckets[index].level
    budget = budgets[index]
    return level, seconds_until(level, budget.capacity, budget.refill_rate)


__all__ = ["MemoryBackend"]
