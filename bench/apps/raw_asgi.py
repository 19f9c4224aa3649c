"""The benchmark endpoints as a hand-written ASGI application: the ceiling.

No framework: the path is matched by hand, JSON goes through orjson, and a
stream sends one ASGI message per event. Every other app is measured against
this one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

IDLE_SECONDS = 600.0

JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]


async def send_json(send: Send, status: int, payload: Any) -> None:
    body = orjson.dumps(payload)
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def token_events() -> AsyncIterator[bytes]:
    for i in range(200):
        yield b"data: token %d\n\n" % i


async def idle_events() -> AsyncIterator[bytes]:
    await asyncio.sleep(IDLE_SECONDS)
    yield b"data: done\n\n"


async def send_events(send: Send, events: AsyncIterator[bytes]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    async for event in events:
        await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path, method = scope["path"], scope["method"]
    if path == "/json" and method == "GET":
        await send_json(send, 200, {"message": "Hello, world!"})
    elif path.startswith("/items/") and method == "GET":
        raw_id = path[len("/items/") :]
        if raw_id.isdigit():
            item_id = int(raw_id)
            await send_json(send, 200, {"id": item_id, "name": f"item {item_id}"})
        else:
            await send_json(send, 404, {"error": "not found"})
    elif path == "/echo" and method == "POST":
        await send_json(send, 200, orjson.loads(await read_body(receive)))
    elif path == "/stream" and method == "GET":
        await send_events(send, token_events())
    elif path == "/idle" and method == "GET":
        await send_events(send, idle_events())
    else:
        await send_json(send, 404, {"error": "not found"})
