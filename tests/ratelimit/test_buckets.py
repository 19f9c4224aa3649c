"""Buckets are exact: capacity plus refill bounds every window, under any concurrency."""

from __future__ import annotations

import asyncio
import threading

import pytest
from ember.ratelimit import GlobalTokenBucket, TokenBucket
from ember.ratelimit.backends import MemoryBackend, Slot
from ember.ratelimit.buckets import Budget
from hypothesis import given, settings
from hypothesis import strategies as st


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


CAPACITY = 100.0
RATE = 10.0  # tokens per second
BUDGET = Budget("global", CAPACITY, RATE, "global")

steps = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=3, allow_nan=False),  # time passing first
        st.integers(min_value=1, max_value=60),  # tokens asked for
        st.integers(min_value=0, max_value=60),  # tokens then really used
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_tokens_admitted_in_any_window_never_exceed_capacity_plus_refill(
    plan: list[tuple[float, int, int]],
) -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    admitted: list[tuple[float, int]] = []
    for i, (pause, cost, _) in enumerate(plan):
        clock.now += pause
        if backend.reserve_now([BUDGET], cost, [], f"lease{i}").admitted:
            admitted.append((clock.now, cost))
    for start, _ in admitted:
        for end, _ in admitted:
            if end < start:
                continue
            total = sum(cost for t, cost in admitted if start <= t <= end)
            assert total <= CAPACITY + RATE * (end - start) + 1e-6


@settings(max_examples=200, deadline=None)
@given(steps)
def test_net_tokens_in_any_window_stay_bounded_when_refunds_are_settled(
    plan: list[tuple[float, int, int]],
) -> None:
    # Each admitted request settles at once, using at most what it reserved:
    # a refund may be re-admitted, but what is really consumed stays bounded.
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    consumed: list[tuple[float, int]] = []
    for i, (pause, cost, used) in enumerate(plan):
        clock.now += pause
        if backend.reserve_now([BUDGET], cost, [], f"lease{i}").admitted:
            used = min(used, cost)
            backend.settle_now([BUDGET], cost, [], f"lease{i}", used)
            consumed.append((clock.now, used))
    for start, _ in consumed:
        for end, _ in consumed:
            if end >= start:
                total = sum(u for t, u in consumed if start <= t <= end)
                assert total <= CAPACITY + RATE * (end - start) + 1e-6


def test_refill_never_passes_capacity() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    backend.reserve_now([BUDGET], 50, [], "a")
    clock.now += 1000
    assert backend.level(BUDGET) == CAPACITY


def test_refill_follows_the_clock() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    assert backend.reserve_now([BUDGET], 100, [], "a").admitted
    assert not backend.reserve_now([BUDGET], 25, [], "b").admitted
    clock.now += 2.5  # 25 tokens come back at 10/s
    assert backend.reserve_now([BUDGET], 25, [], "c").admitted


def test_a_refused_reservation_says_when_it_would_fit() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    backend.reserve_now([BUDGET], 90, [], "a")
    verdict = backend.reserve_now([BUDGET], 30, [], "b")
    assert not verdict.admitted and verdict.reason == "tokens"
    assert verdict.retry_after == pytest.approx(2.0)  # 20 missing at 10/s
    assert verdict.remaining == pytest.approx(10.0)


def test_a_reservation_is_all_or_nothing_across_budgets() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    small = Budget("key:a", 10, 0, "per-key")
    verdict = backend.reserve_now([BUDGET, small], 20, [], "a")
    assert not verdict.admitted and verdict.budget == 1
    assert backend.level(BUDGET) == CAPACITY  # the global budget was not touched


def test_settling_refunds_an_overestimate_and_charges_an_underestimate() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    still = Budget("still", 100, 0, "still")
    backend.reserve_now([still], 40, [], "a")
    backend.settle_now([still], 40, [], "a", 10)
    assert backend.level(still) == 90
    backend.reserve_now([still], 10, [], "b")
    backend.settle_now([still], 10, [], "b", 30)
    assert backend.level(still) == 60


def test_an_expired_lease_returns_its_reservation() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock, lease_seconds=30)
    still = Budget("still", 100, 0, "still")
    slot = Slot("conc:a", 1)
    assert backend.reserve_now([still], 70, [slot], "dead").admitted
    assert not backend.reserve_now([still], 1, [slot], "b").admitted
    clock.now += 31  # the request never settled: its worker died
    assert backend.level(still) == 100
    assert backend.reserve_now([still], 1, [slot], "c").admitted


def test_settling_after_the_lease_expired_charges_the_real_usage() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock, lease_seconds=30)
    still = Budget("still", 100, 0, "still")
    backend.reserve_now([still], 70, [], "slow")
    clock.now += 31
    backend.settle_now([still], 70, [], "slow", 50)
    assert backend.level(still) == 50


def test_concurrent_coroutines_never_overspend() -> None:
    backend = MemoryBackend()
    still = Budget("still", 1000, 0, "still")

    async def one(i: int) -> bool:
        await asyncio.sleep(0)
        return (await backend.reserve([still], 7, [], f"l{i}")).admitted

    async def main() -> list[bool]:
        return await asyncio.gather(*(one(i) for i in range(500)))

    results = asyncio.run(main())
    assert sum(results) == 1000 // 7
    assert backend.level(still) == 1000 - 7 * (1000 // 7)


def test_concurrent_threads_never_overspend() -> None:
    backend = MemoryBackend()
    still = Budget("still", 1000, 0, "still")
    admitted: list[bool] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(50):
            ok = backend.reserve_now([still], 3, [], f"{n}-{i}").admitted
            with lock:
                admitted.append(ok)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(admitted) == 1000 // 3
    assert backend.level(still) == 1000 - 3 * (1000 // 3)


def test_the_seed_bucket_has_the_seed_signature() -> None:
    bucket = GlobalTokenBucket(capacity=100_000.0, refill_rate=100_000.0 / 60)
    assert bucket.capacity == 100_000.0
    assert bucket.refill_rate == pytest.approx(1666.6667)
    assert TokenBucket.per_minute(60_000).refill_rate == 1000


def test_a_bucket_refuses_a_nonsense_size() -> None:
    with pytest.raises(ValueError):
        GlobalTokenBucket(capacity=0, refill_rate=1)
    with pytest.raises(ValueError):
        GlobalTokenBucket(capacity=10, refill_rate=-1)


def test_idle_per_client_buckets_are_dropped_once_full_again() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    for i in range(3000):  # one request from each of 3000 clients
        budget = Budget(f"key:{i}", 100, 10, "per-key")
        backend.reserve_now([budget], 50, [Slot(f"conc:{i}", 1)], f"l{i}")
        backend.settle_now([budget], 50, [Slot(f"conc:{i}", 1)], f"l{i}", 50)
    assert backend.tracked() == 6000
    clock.now += 10  # every bucket has refilled its 50 tokens
    for i in range(2000):  # enough reservations to pass a sweep
        backend.reserve_now([BUDGET], 0, [], f"n{i}")
    assert backend.tracked() == 1  # only the global bucket is left


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=2, allow_nan=False),
            st.integers(min_value=1, max_value=40),
            st.sets(st.sampled_from(["a", "b", "c"]), min_size=1),
        ),
        min_size=1,
        max_size=50,
    )
)
def test_a_refused_reservation_changes_no_budget(
    plan: list[tuple[float, int, set[str]]],
) -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    sizes = {
        "a": Budget("a", 50, 5, "a"),
        "b": Budget("b", 80, 1, "b"),
        "c": Budget("c", 30, 0, "c"),
    }
    for i, (pause, cost, names) in enumerate(plan):
        clock.now += pause
        budgets = [sizes[n] for n in sorted(names)]
        before = {n: backend.level(b) for n, b in sizes.items()}
        verdict = backend.reserve_now(budgets, cost, [], f"l{i}")
        after = {n: backend.level(b) for n, b in sizes.items()}
        for name in sizes:
            taken = before[name] - after[name]
            expected = cost if verdict.admitted and name in names else 0
            assert abs(taken - expected) < 1e-9
        assert verdict.admitted == all(before[n] >= cost for n in names)
