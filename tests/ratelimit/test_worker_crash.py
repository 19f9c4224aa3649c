"""A worker killed mid-request never settles: its lease returns the reservation."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import redis
from ember.ratelimit.backends.redis import RedisBackend
from ember.ratelimit.buckets import Budget
from limiter_helpers import HELLO_PROMPT_TOKENS, chat_body
from servers import uvicorn_server

HERE = Path(__file__).resolve().parent
CAPACITY = 10_000
LEASE_SECONDS = 1.0


def _post_and_ignore_the_crash(url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the server is killed under this request
        httpx.post(f"{url}/slow", json=chat_body(max_tokens=500), timeout=30)


def test_a_killed_workers_reservation_comes_back_when_its_lease_expires(
    redis_url: str, prefix: str
) -> None:
    env = {
        "RATELIMIT_REDIS_URL": redis_url,
        "RATELIMIT_PREFIX": prefix,
        "RATELIMIT_CAPACITY": str(CAPACITY),
        "RATELIMIT_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    store = redis.Redis.from_url(redis_url)
    global_budget = Budget("global", CAPACITY, 0, "global")
    try:
        with uvicorn_server("redis_limited_app:app", app_dir=HERE, env=env) as url:
            pid = int(httpx.get(f"{url}/nowhere", timeout=10).headers["x-pid"])
            request = threading.Thread(target=_post_and_ignore_the_crash, args=(url,))
            request.start()
            deadline = time.monotonic() + 10
            while not store.zcard(prefix + "global:leases") and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(pid, signal.SIGKILL)  # the worker dies holding the reservation
            request.join(timeout=30)
        reserved = HELLO_PROMPT_TOKENS + 500
        assert float(store.hget(prefix + "global", "level") or 0) == CAPACITY - reserved
        time.sleep(LEASE_SECONDS + 0.2)

        async def next_admission() -> float:
            backend = RedisBackend(redis_url, prefix=prefix)
            try:
                verdict = await backend.reserve([global_budget], 1, [], "after-the-crash")
                assert verdict.admitted
                return verdict.remaining
            finally:
                await backend.aclose()

        assert asyncio.run(next_admission()) == CAPACITY - 1
    finally:
        store.close()
