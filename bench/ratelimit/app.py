"""The app the rate-limit benchmark serves, limited by ``RATELIMIT_BENCH_MODE``.

- ``none``: no middleware.
- ``passthrough``: one empty ASGI middleware (the floor for any middleware).
- ``in-response``: no layer at all; the endpoints' own responses carry the
  three ``x-ratelimit-*`` headers, already encoded. What writing three more
  header lines costs the server: the floor under any limiter that reports
  them on every response.
- ``headers``: one layer that adds those three headers and does nothing else.
- ``memory``: RateLimitMiddleware on the in-memory backend; ``memory-busy``:
  the same with a bucket that is never full.
- ``redis``: RateLimitMiddleware on Redis at ``RATELIMIT_BENCH_REDIS``.

The budget is far larger than the load, so every request is admitted and the
cost measured is the limiter's own. ``make_app(mode)`` builds one variant
(``inprocess.py`` builds them all in one process).
"""

from __future__ import annotations

import os
from typing import Any

from ember import Ember, GlobalTokenBucket, JSONResponse, RateLimitMiddleware, Request

LIMIT_HEADERS = [
    (b"x-ratelimit-limit-tokens", b"1000000000000"),
    (b"x-ratelimit-remaining-tokens", b"1000000000000"),
    (b"x-ratelimit-reset-tokens", b"0s"),
]


class ResponseWithLimitHeaders(JSONResponse):
    """A JSON response that carries the limiter's three headers itself."""

    def raw_headers(self, content_length: int | None) -> list[tuple[bytes, bytes]]:
        return [*super().raw_headers(content_length), *LIMIT_HEADERS]


def make_app(mode: str, redis_url: str = "") -> Ember:
    app = Ember()
    if mode == "passthrough":  # the floor: one empty ASGI layer

        def passthrough(inner: Any) -> Any:
            async def layer(scope: Any, receive: Any, send: Any) -> None:
                await inner(scope, receive, send)

            return layer

        app.add_middleware(passthrough)
    elif mode == "headers":  # the floor for a limiter: one layer adding its three headers

        def headers_only(inner: Any) -> Any:
            async def layer(scope: Any, receive: Any, send: Any) -> None:
                async def with_headers(message: Any) -> None:
                    if message["type"] == "http.response.start":
                        message["headers"] = [*message.get("headers", ()), *LIMIT_HEADERS]
                    await send(message)

                await inner(scope, receive, with_headers)

            return layer

        app.add_middleware(headers_only)
    elif mode not in ("none", "in-response"):
        backend: Any = None
        bucket = GlobalTokenBucket(capacity=1e12, refill_rate=1e10)
        if mode == "redis":
            from ember.ratelimit.backends.redis import RedisBackend

            backend = RedisBackend(redis_url, prefix=f"bench:{os.getpid()}:", timeout=2.0)
        elif mode == "memory-busy":
            # A bucket that is never full (one long reservation, a slow refill):
            # no request takes the full bucket's shortcut.
            from ember.ratelimit.backends.memory import MemoryBackend
            from ember.ratelimit.buckets import Budget

            bucket = GlobalTokenBucket(capacity=1e12, refill_rate=1.0)
            backend = MemoryBackend(lease_seconds=86_400)
            budget = Budget("global", bucket.capacity, bucket.refill_rate, "global")
            backend.reserve_now([budget], 1_000_000_000, [], "busy")
        app.add_middleware(RateLimitMiddleware(global_bucket=bucket, backend=backend))

    # Only "in-response" wraps what the endpoints return; the others return
    # the dict as any Ember endpoint does.
    wrap = ResponseWithLimitHeaders if mode == "in-response" else None

    @app.get("/json")
    async def json_endpoint() -> Any:
        payload = {"message": "Hello, world!"}
        return payload if wrap is None else wrap(payload)

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Any:
        body = await request.json()
        payload = {
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
        return payload if wrap is None else wrap(payload)

    return app


app = make_app(
    os.environ.get("RATELIMIT_BENCH_MODE", "none"), os.environ.get("RATELIMIT_BENCH_REDIS", "")
)
