"""The Redis backend against a real redis-server: atomic, one round trip, bounded, expiring."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from ember import Request
from ember.ratelimit import GlobalTokenBucket, RateLimitMiddleware
from ember.ratelimit.backends import BackendUnavailable, Slot
from ember.ratelimit.backends.redis import RedisBackend
from ember.ratelimit.buckets import Budget
from limiter_helpers import HELLO_PROMPT_TOKENS, chat_body, make_app
from servers import client_for, free_port

STILL = Budget("still", 100, 0, "still")


async def test_a_reservation_is_all_or_nothing_across_budgets(redis_url: str, prefix: str) -> None:
    backend = RedisBackend(redis_url, prefix=prefix)
    small = Budget("key:a", 10, 0, "per-key")
    try:
        verdict = await backend.reserve([STILL, small], 20, [], "a")
        assert not verdict.admitted and verdict.reason == "tokens" and verdict.budget == 1
        assert await backend.level(STILL) == 100
        assert (await backend.reserve([STILL, small], 10, [], "b")).admitted
        assert await backend.level(STILL) == 90 and await backend.level(small) == 0
    finally:
        await backend.aclose()


async def test_settling_refunds_and_charges_exactly(redis_url: str, prefix: str) -> None:
    backend = RedisBackend(redis_url, prefix=prefix)
    try:
        await backend.reserve([STILL], 40, [], "a")
        await backend.settle([STILL], 40, [], "a", 10)
        assert await backend.level(STILL) == 90
        await backend.reserve([STILL], 10, [], "b")
        await backend.settle([STILL], 10, [], "b", 30)
        assert await backend.level(STILL) == 60
    finally:
        await backend.aclose()


async def test_refill_runs_on_the_servers_clock(redis_url: str, prefix: str) -> None:
    backend = RedisBackend(redis_url, prefix=prefix)
    fast = Budget("fast", 100, 1000, "fast")  # 1000 tokens per second
    try:
        assert (await backend.reserve([fast], 100, [], "a")).admitted
        verdict = await backend.reserve([fast], 100, [], "b")
        assert not verdict.admitted and 0 < verdict.retry_after <= 0.1
        await asyncio.sleep(0.15)
        assert (await backend.reserve([fast], 100, [], "c")).admitted
    finally:
        await backend.aclose()


async def test_an_expired_lease_returns_its_reservation_and_its_slot(
    redis_url: str, prefix: str
) -> None:
    backend = RedisBackend(redis_url, prefix=prefix, lease_seconds=0.2)
    slot = Slot("conc:a", 1)
    try:
        assert (await backend.reserve([STILL], 70, [slot], "dead")).admitted
        refused = await backend.reserve([STILL], 1, [slot], "b")
        assert not refused.admitted and refused.reason == "concurrency"
        await asyncio.sleep(0.3)  # the request "died" and never settled
        assert (await backend.reserve([STILL], 1, [slot], "c")).admitted
        assert await backend.level(STILL) == 99
        # A late settlement of the dead lease charges what it really used.
        await backend.settle([STILL], 70, [slot], "dead", 20)
        assert await backend.level(STILL) == 79
    finally:
        await backend.aclose()


async def test_idle_keys_expire_once_their_bucket_would_be_full(
    redis_url: str, prefix: str
) -> None:
    backend = RedisBackend(redis_url, prefix=prefix, lease_seconds=2)
    refilling = Budget("key:idle", 100, 50, "per-key")  # full again 1 s after using 50
    slot = Slot("conc:idle", 5)
    sync = redis.Redis.from_url(redis_url)
    try:
        await backend.reserve([refilling], 50, [slot], "a")
        await backend.settle([refilling], 50, [slot], "a", 50)
        ttl = sync.pttl(prefix + "key:idle")
        assert 0 < ttl <= (1 + 2) * 1000 + 1000
        assert 0 < sync.pttl(prefix + "key:idle:leases") <= 3000 or not sync.exists(
            prefix + "key:idle:leases"
        )
        assert 0 < sync.pttl(prefix + "conc:idle") <= 3000 or not sync.exists(prefix + "conc:idle")
        # A budget that never refills must never expire: it would come back full.
        await backend.reserve([STILL], 5, [], "b")
        assert sync.pttl(prefix + "still") == -1
    finally:
        sync.close()
        await backend.aclose()


def _commandstats(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


# Commands the scripts run inside Redis: counted by commandstats, but no round trips.
IN_SCRIPT = {
    "time",
    "hmget",
    "hset",
    "pexpire",
    "persist",
    "zrangebyscore",
    "zremrangebyscore",
    "zcard",
    "zadd",
    "zrem",
}


async def test_one_round_trip_per_admission_and_one_per_settlement(
    redis_url: str, prefix: str
) -> None:
    app = make_app()
    backend = RedisBackend(redis_url, prefix=prefix)
    app.add_middleware(
        RateLimitMiddleware(
            global_bucket=GlobalTokenBucket(capacity=1_000_000, refill_rate=1000),
            key_bucket=GlobalTokenBucket(capacity=100_000, refill_rate=100),
            max_concurrent_per_key=10,
            backend=backend,
        )
    )

    @app.post("/chat")
    async def chat(request: Request) -> dict[str, Any]:
        await request.json()
        return {"usage": {"prompt_tokens": 8, "completion_tokens": 3}}

    stats = redis.Redis.from_url(redis_url)
    async with client_for(app) as client:
        await client.post("/chat", json=chat_body())  # connects and loads the scripts
        before = _commandstats(stats)
        for _ in range(20):
            response = await client.post("/chat", json=chat_body())
            assert response.status_code == 200
        after = _commandstats(stats)
    stats.close()
    changed = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    round_trips = {k: n for k, n in changed.items() if k not in IN_SCRIPT and k != "info"}
    assert round_trips == {"evalsha": 40}  # 20 admissions + 20 settlements


async def test_a_flushed_script_cache_is_reloaded(redis_url: str, prefix: str) -> None:
    backend = RedisBackend(redis_url, prefix=prefix)
    sync = redis.Redis.from_url(redis_url)
    try:
        sync.script_flush()
        assert (await backend.reserve([STILL], 5, [], "a")).admitted
        assert (await backend.reserve([STILL], 5, [], "b")).admitted
        assert await backend.level(STILL) == 90
    finally:
        sync.close()
        await backend.aclose()


# ------------------------------------------------------------ Redis down or slow


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield int(server.getsockname()[1])


def limited_by(backend: RedisBackend, fail_open: bool) -> Any:
    app = make_app()
    app.add_middleware(
        RateLimitMiddleware(
            global_bucket=GlobalTokenBucket(capacity=1000, refill_rate=10),
            backend=backend,
            fail_open=fail_open,
        )
    )

    @app.post("/chat")
    async def chat(request: Request) -> dict[str, bool]:
        return {"ran": True}

    return app


async def test_redis_down_fails_closed_with_a_503_and_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0", timeout=0.3)
    with caplog.at_level(logging.ERROR, logger="ember.ratelimit"):
        async with client_for(limited_by(backend, fail_open=False)) as client:
            response = await client.post("/chat", json=chat_body())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "rate_limiter_unavailable"
    assert "rate-limit backend unavailable (Redis at 127.0.0.1:" in caplog.text
    assert "failing closed" in caplog.text


async def test_redis_down_can_fail_open(caplog: pytest.LogCaptureFixture) -> None:
    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0", timeout=0.3)
    with caplog.at_level(logging.ERROR, logger="ember.ratelimit"):
        async with client_for(limited_by(backend, fail_open=True)) as client:
            response = await client.post("/chat", json=chat_body())
    assert response.status_code == 200 and response.json() == {"ran": True}
    assert "failing open" in caplog.text


async def test_a_redis_that_never_answers_is_given_up_on_after_the_timeout(
    silent_server: int, caplog: pytest.LogCaptureFixture
) -> None:
    backend = RedisBackend(f"redis://127.0.0.1:{silent_server}/0", timeout=0.3)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="timed out"):
        await backend.reserve([STILL], 1, [], "a")
    # Bounded: the timeout plus scheduling slack, not a hang (the test's own limit is 120 s).
    assert time.monotonic() - started < 5
    with caplog.at_level(logging.ERROR, logger="ember.ratelimit"):
        async with client_for(limited_by(backend, fail_open=False)) as client:
            response = await client.post("/chat", json=chat_body())
    assert response.status_code == 503
    assert "timed out" in caplog.text


def test_the_log_line_never_shows_the_redis_password() -> None:
    backend = RedisBackend("redis://:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in repr(backend) and "hunter2" not in backend.where


async def test_through_the_middleware_the_used_tokens_are_what_redis_keeps(
    redis_url: str, prefix: str
) -> None:
    backend = RedisBackend(redis_url, prefix=prefix)
    app = make_app()
    app.add_middleware(
        RateLimitMiddleware(
            global_bucket=GlobalTokenBucket(capacity=1000, refill_rate=0), backend=backend
        )
    )

    @app.post("/chat")
    async def chat(request: Request) -> dict[str, Any]:
        await request.json()
        request.state.ember_usage = {"prompt_tokens": 8, "completion_tokens": 7}
        return {}

    async with client_for(app) as client:
        response = await client.post("/chat", json=chat_body(max_tokens=100))
        assert response.headers["x-ratelimit-remaining-tokens"] == str(
            1000 - HELLO_PROMPT_TOKENS - 100
        )
        assert await backend.level(Budget("global", 1000, 0, "global")) == 1000 - 15


async def test_a_request_that_reserves_nothing_is_answered_from_a_recent_admission(
    redis_url: str, prefix: str
) -> None:
    backend = RedisBackend(redis_url, prefix=prefix, view_seconds=60)
    app = make_app()
    app.add_middleware(
        RateLimitMiddleware(
            global_bucket=GlobalTokenBucket(capacity=1000, refill_rate=0), backend=backend
        )
    )

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    stats = redis.Redis.from_url(redis_url)
    async with client_for(app) as client:
        first = await client.get("/health")  # asks Redis: nothing seen yet
        before = _commandstats(stats)
        later = [await client.get("/health") for _ in range(10)]
        after = _commandstats(stats)
    stats.close()
    changed = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert {k: n for k, n in changed.items() if k not in IN_SCRIPT and k != "info"} == {}
    for response in [first, *later]:
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit-tokens"] == "1000"
        assert response.headers["x-ratelimit-remaining-tokens"] == "1000"


async def test_an_overdraw_settled_here_is_seen_at_once_by_requests_that_reserve_nothing(
    redis_url: str, prefix: str
) -> None:
    backend = RedisBackend(redis_url, prefix=prefix, view_seconds=60)
    app = make_app()
    app.add_middleware(
        RateLimitMiddleware(
            global_bucket=GlobalTokenBucket(capacity=100, refill_rate=0),
            estimate_from_body=False,
            backend=backend,
        )
    )

    @app.post("/chat")
    async def chat(request: Request) -> dict[str, Any]:
        await request.json()
        return {"usage": {"prompt_tokens": 100, "completion_tokens": 50}}

    async with client_for(app) as client:
        assert (await client.post("/chat", json=chat_body())).status_code == 200
        refused = await client.post("/chat", json=chat_body())
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-remaining-tokens"] == "0"


async def test_with_no_view_every_request_asks_redis(redis_url: str, prefix: str) -> None:
    backend = RedisBackend(redis_url, prefix=prefix, view_seconds=0)
    verdict = await backend.reserve([STILL], 0, [], "")
    try:
        assert verdict.admitted
        assert backend.peek([STILL]) is None
    finally:
        await backend.aclose()


async def test_a_view_is_refilled_to_now_and_expires(redis_url: str, prefix: str) -> None:
    backend = RedisBackend(redis_url, prefix=prefix, view_seconds=1.0)
    refilling = Budget("refilling", 1000, 100, "refilling")
    try:
        await backend.reserve([refilling], 500, [], "a")
        await asyncio.sleep(0.2)
        seen = backend.peek([refilling])
        assert seen is not None and seen.admitted
        assert 500 + 100 * 0.2 <= seen.remaining <= 500 + 100 * 1.0
        assert abs(seen.reset - (1000 - seen.remaining) / 100) < 0.01
        await asyncio.sleep(1.0)
        assert backend.peek([refilling]) is None  # too old: Redis is asked again
    finally:
        await backend.aclose()
