"""How a stream's items become writes: ready items are coalesced, awaited ones
go out one by one, and a producer far ahead of the socket is held back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from ember import StreamingResponse, TokenStreamResponse


async def call(response: StreamingResponse, slow_send: float = 0.0) -> list[bytes]:
    """Run ``response`` as a server would; return the body of every write."""
    writes: list[bytes] = []
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        await never  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            writes.append(message["body"])
            if slow_send:
                await asyncio.sleep(slow_send)

    scope = {"type": "http", "method": "GET", "path": "/"}
    await response(scope, receive, send)
    return writes


async def test_items_that_are_ready_together_leave_in_one_write() -> None:
    async def ready() -> AsyncIterator[str]:
        for n in range(200):
            yield f"token {n}"

    writes = await call(TokenStreamResponse(ready()))
    assert len(writes) == 1
    assert writes[0].count(b"data: token") == 200


async def test_items_produced_between_awaits_are_written_one_by_one() -> None:
    async def paced() -> AsyncIterator[str]:
        for n in range(10):
            await asyncio.sleep(0.005)
            yield f"token {n}"

    writes = await call(TokenStreamResponse(paced()))
    assert len(writes) == 10
    assert all(w.count(b"data: ") == 1 for w in writes)


async def test_a_producer_far_ahead_of_the_socket_is_held_back() -> None:
    async def fast() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 16 * 1024
            await asyncio.sleep(0)

    writes = await call(StreamingResponse(fast()), slow_send=0.01)
    assert sum(len(w) for w in writes) == 64 * 16 * 1024
    # With 64 KiB of back-pressure no write carries more than the buffer allows
    # plus the item that crossed it.
    assert max(len(w) for w in writes) <= 80 * 1024
    assert len(writes) > 1
