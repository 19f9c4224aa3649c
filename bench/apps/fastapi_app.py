"""The benchmark endpoints in FastAPI, with its own Server-Sent Events support."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent

IDLE_SECONDS = 600.0

app = FastAPI()


@app.get("/json")
async def hello() -> dict[str, str]:
    return {"message": "Hello, world!"}


@app.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, Any]:
    return {"id": item_id, "name": f"item {item_id}"}


@app.post("/echo")
async def echo(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


@app.get("/stream", response_class=EventSourceResponse)
async def stream() -> AsyncIterator[ServerSentEvent]:
    for i in range(200):
        yield ServerSentEvent(raw_data=f"token {i}")


@app.get("/idle", response_class=EventSourceResponse)
async def idle() -> AsyncIterator[ServerSentEvent]:
    await asyncio.sleep(IDLE_SECONDS)
    yield ServerSentEvent(raw_data="done")
