"""x-ember-overhead-ms counts Ember's own time from when the request arrived,
so time spent waiting in middleware (a queue, a lock) is part of it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from ember import Ember
from ember.ai.openai_compat import add_openai_routes
from ember.ai.router import ModelRouter, ModelSpec

WAIT = 0.2


def slow_gate(app: Any) -> Any:
    # Stands for a queue or a lock the request waits in before its handler runs.
    async def gated(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(WAIT)
        await app(scope, receive, send)

    return gated


def gateway() -> Ember:
    router = ModelRouter(models=[ModelSpec(name="local", provider="local")])
    app = Ember(model_router=router)
    add_openai_routes(app)
    app.add_middleware(slow_gate)
    return app


async def test_overhead_header_includes_time_waited_before_the_handler() -> None:
    transport = httpx.ASGITransport(app=gateway())
    async with httpx.AsyncClient(transport=transport, base_url="http://ember") as client:
        response = await client.post(
            "/v1/chat/completions",
            json={"model": "local", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert response.status_code == 200
    assert float(response.headers["x-ember-overhead-ms"]) >= WAIT * 1000
