"""Check what the /stream numbers rest on: Ember's stream coalescing.

1. A generator that never awaits (its items are all ready) reaches the socket
   in one write, not one per item.
2. A generator that awaits between items still has each item written as soon
   as it is produced (nothing waits for a batch to fill).
3. A generator far faster than a slow socket is batched, and held back once
   64 KB wait (back-pressure), rather than buffered without bound.

The app is called in-process, with a ``send`` that records when each write
happened and can be made slow. Run: ``python bench/stream_check.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from ember import Ember, SSEResponse

app = Ember(load_entry_points=False)
PACE = 0.02  # seconds between items of the paced generator


@app.get("/ready")
async def ready() -> SSEResponse:
    async def events() -> AsyncIterator[str]:
        for i in range(200):
            yield f"data: token {i}\n\n"

    return SSEResponse(events())


produced_at: list[float] = []


@app.get("/paced")
async def paced() -> SSEResponse:
    async def events() -> AsyncIterator[str]:
        for i in range(10):
            await asyncio.sleep(PACE)
            produced_at.append(time.perf_counter())
            yield f"data: token {i}\n\n"

    return SSEResponse(events())


@app.get("/flood")
async def flood() -> SSEResponse:
    async def events() -> AsyncIterator[str]:
        for i in range(20_000):
            yield f"data: {'x' * 90} {i:05}\n\n"  # 100-byte events, 2 MB in all

    return SSEResponse(events())


async def fetch(path: str, write_delay: float = 0.0) -> list[tuple[float, bytes]]:
    """The body writes of one GET, each with the time it was sent."""
    writes: list[tuple[float, bytes]] = []
    finished = asyncio.Event()
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [],
        "query_string": b"",
    }

    async def receive() -> dict[str, Any]:
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            if message["body"]:
                writes.append((time.perf_counter(), message["body"]))
                if write_delay:
                    await asyncio.sleep(write_delay)  # a socket that drains slowly
            if not message.get("more_body", False):
                finished.set()

    await asyncio.wait_for(app(scope, receive, send), timeout=30)
    return writes


async def main() -> None:
    failures = []

    writes = await fetch("/ready")
    events = sum(body.count(b"data: ") for _, body in writes)
    print(f"ready items: {events} events in {len(writes)} write(s)")
    if events != 200 or len(writes) != 1:
        failures.append("ready items were not coalesced into one write")

    writes = await fetch("/paced")
    lags = [(sent - made) * 1000 for (sent, _), made in zip(writes, produced_at, strict=False)]
    print(
        f"paced items: {len(writes)} writes for 10 events, "
        f"write lag after production: max {max(lags):.2f} ms"
    )
    if len(writes) != 10 or max(lags) > PACE * 1000 / 2:
        failures.append("a paced item waited for a batch instead of being written at once")

    writes = await fetch("/flood", write_delay=0.001)
    sizes = [len(body) for _, body in writes]
    events = sum(body.count(b"data: ") for _, body in writes)
    print(
        f"flood over a slow socket: {events} events in {len(writes)} writes, "
        f"largest write {max(sizes) / 1024:.1f} KB"
    )
    if events != 20_000 or len(writes) < 2 or max(sizes) > 80 * 1024:
        failures.append("a fast producer was not batched and held back at 64 KB")

    print("\n".join(failures) if failures else "all stream checks passed")
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    asyncio.run(main())
