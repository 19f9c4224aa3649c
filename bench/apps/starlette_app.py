"""The benchmark endpoints in Starlette, with sse-starlette for the streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

IDLE_SECONDS = 600.0


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"message": "Hello, world!"})


async def item(request: Request) -> JSONResponse:
    item_id = request.path_params["item_id"]
    return JSONResponse({"id": item_id, "name": f"item {item_id}"})


async def echo(request: Request) -> JSONResponse:
    return JSONResponse(await request.json())


async def stream(request: Request) -> EventSourceResponse:
    async def events() -> AsyncIterator[dict[str, str]]:
        for i in range(200):
            yield {"data": f"token {i}"}

    return EventSourceResponse(events())


async def idle(request: Request) -> EventSourceResponse:
    async def events() -> AsyncIterator[dict[str, str]]:
        await asyncio.sleep(IDLE_SECONDS)
        yield {"data": "done"}

    return EventSourceResponse(events())


app = Starlette(
    routes=[
        Route("/json", hello),
        Route("/items/{item_id:int}", item),
        Route("/echo", echo, methods=["POST"]),
        Route("/stream", stream),
        Route("/idle", idle),
    ]
)
