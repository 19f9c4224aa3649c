"""The benchmark endpoints in Ember.

``load_entry_points=False`` measures the core alone: plugins installed in the
same environment (the example ember-hello adds a middleware) would otherwise
be measured with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from ember import Ember, Request, SSEResponse

IDLE_SECONDS = 600.0

app = Ember(load_entry_points=False)


@app.get("/json")
async def hello() -> dict[str, str]:
    return {"message": "Hello, world!"}


@app.get("/items/{item_id:int}")
async def item(item_id: int) -> dict[str, Any]:
    return {"id": item_id, "name": f"item {item_id}"}


@app.post("/echo")
async def echo(request: Request) -> Any:
    return await request.json()


@app.get("/stream")
async def stream() -> SSEResponse:
    async def events() -> AsyncIterator[str]:
        for i in range(200):
            yield f"data: token {i}\n\n"

    return SSEResponse(events())


@app.get("/idle")
async def idle() -> SSEResponse:
    async def events() -> AsyncIterator[str]:
        await asyncio.sleep(IDLE_SECONDS)
        yield "data: done\n\n"

    return SSEResponse(events())
