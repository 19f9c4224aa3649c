"""An app limited by a Redis-backed global budget, served by several processes in tests.

Configured by environment: RATELIMIT_REDIS_URL, RATELIMIT_PREFIX,
RATELIMIT_CAPACITY (tokens, no refill), RATELIMIT_USED (tokens each request
reports having used).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from ember import Ember, Request
from ember.ratelimit import GlobalTokenBucket, RateLimitMiddleware
from ember.ratelimit.backends.redis import RedisBackend

USED = int(os.environ.get("RATELIMIT_USED", "10"))

app = Ember()
app.add_middleware(
    RateLimitMiddleware(
        global_bucket=GlobalTokenBucket(
            capacity=float(os.environ.get("RATELIMIT_CAPACITY", "1000")), refill_rate=0
        ),
        backend=RedisBackend(
            os.environ["RATELIMIT_REDIS_URL"],
            prefix=os.environ["RATELIMIT_PREFIX"],
            timeout=5.0,
        ),
    )
)


@app.post("/v1/chat/completions")
async def completions(request: Request) -> dict[str, Any]:
    await request.json()
    await asyncio.sleep(0.02)  # requests overlap, as real model calls do
    request.state.ember_usage = {"prompt_tokens": USED // 2, "completion_tokens": USED - USED // 2}
    return {"object": "chat.completion", "pid": os.getpid()}
