"""A client that leaves mid-stream is charged for what was emitted, not what was reserved."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import redis
from limiter_helpers import HELLO_PROMPT_TOKENS, chat_body
from servers import uvicorn_server

HERE = Path(__file__).resolve().parent
CAPACITY = 10_000
STREAMED_WORDS = 200  # what the endpoint would send if the client stayed


def test_a_client_disconnect_settles_the_tokens_emitted_so_far(redis_url: str, prefix: str) -> None:
    env = {
        "RATELIMIT_REDIS_URL": redis_url,
        "RATELIMIT_PREFIX": prefix,
        "RATELIMIT_CAPACITY": str(CAPACITY),
    }
    store = redis.Redis.from_url(redis_url)
    try:
        with uvicorn_server("redis_limited_app:app", app_dir=HERE, env=env) as url:
            body = chat_body(max_tokens=500)
            with httpx.stream("POST", f"{url}/stream", json=body, timeout=20) as response:
                assert response.status_code == 200
                reserved = CAPACITY - int(response.headers["x-ratelimit-remaining-tokens"])
                assert reserved == HELLO_PROMPT_TOKENS + 500
                read = 0
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        read += 1
                    if read == 5:
                        break  # leave mid-stream
            # Wait (bounded) for the server to notice and settle.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and store.zcard(prefix + "global:leases"):
                time.sleep(0.05)
            level = float(store.hget(prefix + "global", "level") or CAPACITY)
    finally:
        store.close()
    charged = CAPACITY - level
    emitted = charged - HELLO_PROMPT_TOKENS
    assert 5 <= emitted < STREAMED_WORDS  # what went out before the disconnect, one token each
    assert charged < reserved
