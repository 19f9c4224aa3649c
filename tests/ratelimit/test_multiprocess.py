"""Four app processes share one Redis budget: 500 concurrent requests never overspend it."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import redis
from limiter_helpers import HELLO_PROMPT_TOKENS, chat_body
from servers import uvicorn_server

HERE = Path(__file__).resolve().parent
CAPACITY = 3000
MAX_TOKENS = 100
USED = 10  # each request reports 10 tokens used: 98 of its 108 are refunded
REQUESTS = 500


async def _fire(urls: list[str]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.post(
                    f"{urls[i % len(urls)]}/v1/chat/completions",
                    json=chat_body(max_tokens=MAX_TOKENS),
                )
                for i in range(REQUESTS)
            )
        )


def test_four_processes_under_500_concurrent_requests_admit_no_more_than_the_budget(
    redis_url: str, prefix: str
) -> None:
    env = {
        "RATELIMIT_REDIS_URL": redis_url,
        "RATELIMIT_PREFIX": prefix,
        "RATELIMIT_CAPACITY": str(CAPACITY),
        "RATELIMIT_USED": str(USED),
    }
    with contextlib.ExitStack() as stack:
        urls = [
            stack.enter_context(uvicorn_server("redis_limited_app:app", app_dir=HERE, env=env))
            for _ in range(4)
        ]
        responses = asyncio.run(_fire(urls))

    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(admitted) + len(refused) == REQUESTS
    assert refused, "the budget must have been binding"
    assert len({r.headers["x-pid"] for r in responses}) == 4
    # Never more tokens used than the budget...
    assert len(admitted) * USED <= CAPACITY
    # ...and at least every reservation that fit at once was admitted.
    assert len(admitted) >= CAPACITY // (HELLO_PROMPT_TOKENS + MAX_TOKENS)
    # Counted exactly: every admitted request settled at its real usage, and
    # nothing is still reserved.
    client = redis.Redis.from_url(redis_url)
    try:
        level = float(client.hget(prefix + "global", "level") or CAPACITY)
        leases = client.zcard(prefix + "global:leases")
    finally:
        client.close()
    assert leases == 0
    assert level == CAPACITY - USED * len(admitted)
