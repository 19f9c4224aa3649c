"""An app limited by a Redis-backed global budget, served by several processes in tests.

Configured by environment: RATELIMIT_REDIS_URL, RATELIMIT_PREFIX,
RATELIMIT_CAPACITY (tokens, no refill), RATELIMIT_USED (tokens each request
reports having used), RATELIMIT_LEASE_SECONDS.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from ember import Ember, Request, TokenStreamResponse
from ember.ratelimit import GlobalTokenBucket, RateLimitMiddleware
from ember.ratelimit.backends.redis import RedisBackend
from ember.types import ASGIApp, Message, Receive, Scope, Send

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
            lease_seconds=float(os.environ.get("RATELIMIT_LEASE_SECONDS", "300")),
        ),
    )
)


def tag_with_pid(inner: ASGIApp) -> ASGIApp:
    """Name the serving process in a header, so a test sees all four took part."""

    async def tagged(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), (b"x-pid", str(os.getpid()).encode())]
                message = {**message, "headers": headers}
            await send(message)

        await inner(scope, receive, send_tagged)

    return tagged


app.add_middleware(tag_with_pid)


@app.post("/v1/chat/completions")
async def completions(request: Request) -> dict[str, Any]:
    await request.json()
    await asyncio.sleep(0.02)  # requests overlap, as real model calls do
    request.state.ember_usage = {"prompt_tokens": USED // 2, "completion_tokens": USED - USED // 2}
    return {"object": "chat.completion"}


@app.post("/stream")
async def stream(request: Request) -> TokenStreamResponse:
    """A slow stream of one-token words; nobody reports usage, so it is counted."""
    await request.json()

    async def tokens() -> Any:
        for _ in range(200):
            await asyncio.sleep(0.02)
            yield "hello "

    return TokenStreamResponse(tokens())


@app.post("/slow")
async def slow(request: Request) -> dict[str, Any]:
    """Holds its reservation for a long time: long enough to kill the process."""
    await request.json()
    await asyncio.sleep(60)
    return {}
