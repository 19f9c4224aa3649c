"""The app the rate-limit benchmark serves, limited by ``RATELIMIT_BENCH_MODE``.

``none``: no middleware; ``passthrough``: one empty ASGI middleware (the
floor); ``memory``: RateLimitMiddleware on the in-memory backend; ``redis``:
on Redis at ``RATELIMIT_BENCH_REDIS``. The budget is far
larger than the load, so every request is admitted and the cost measured is
the limiter's own.
"""

from __future__ import annotations

import os
from typing import Any

from ember import Ember, GlobalTokenBucket, RateLimitMiddleware, Request

MODE = os.environ.get("RATELIMIT_BENCH_MODE", "none")

app = Ember()

if MODE == "passthrough":  # the floor: one empty ASGI layer

    def passthrough(inner: Any) -> Any:
        async def layer(scope: Any, receive: Any, send: Any) -> None:
            await inner(scope, receive, send)

        return layer

    app.add_middleware(passthrough)
elif MODE != "none":
    backend: Any = None
    if MODE == "redis":
        from ember.ratelimit.backends.redis import RedisBackend

        backend = RedisBackend(
            os.environ["RATELIMIT_BENCH_REDIS"], prefix=f"bench:{os.getpid()}:", timeout=2.0
        )
    app.add_middleware(
        RateLimitMiddleware(
            global_bucket=GlobalTokenBucket(capacity=1e12, refill_rate=1e10), backend=backend
        )
    )


@app.get("/json")
async def json_endpoint() -> dict[str, str]:
    return {"message": "Hello, world!"}


@app.post("/v1/chat/completions")
async def completions(request: Request) -> dict[str, Any]:
    body = await request.json()
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": body.get("model", "bench"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 2, "total_tokens": 22},
    }
