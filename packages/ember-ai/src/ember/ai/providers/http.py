"""The HTTP side shared by the providers: sending, reading SSE, mapping errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson

from .base import FailureClass, ProviderError


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], body: dict[str, Any]
) -> AsyncIterator[httpx.Response]:
    """POST ``body`` and yield the streaming response.

    Leaving the block closes the response; if it was not read to the end its
    connection is closed too, which is how the upstream learns the reader left.
    """
    request = client.build_request("POST", url, headers=headers, content=orjson.dumps(body))
    try:
        response = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise transport_error(exc) from None
    try:
        yield response
    finally:
        # Shielded: a reader that goes away may cancel us twice (once to stop
        # reading, once more while we clean up), and an interrupted close
        # would leave the upstream generating tokens nobody reads.
        await asyncio.shield(response.aclose())


def transport_error(exc: BaseException) -> ProviderError:
    """A ProviderError for an httpx failure (the URL is kept, never headers)."""
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(FailureClass.TIMEOUT, f"upstream timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.ConnectError):
        return ProviderError(FailureClass.CONNECT, "could not connect to the upstream")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return ProviderError(FailureClass.STREAM, "the upstream connection was cut mid-response")
    return ProviderError(FailureClass.CONNECT, f"upstream transport error ({type(exc).__name__})")


async def read_body(response: httpx.Response) -> bytes:
    try:
        return await response.aread()
    except httpx.HTTPError as exc:
        raise transport_error(exc) from None


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """``(event, data)`` pairs of an SSE body; comments and ids are skipped."""
    event = ""
    data: list[str] = []
    try:
        async for line in response.aiter_lines():
            if not line:
                if data:
                    yield event or "message", "\n".join(data)
                event, data = "", []
            elif line.startswith("data:"):
                data.append(line[6:] if line.startswith("data: ") else line[5:])
            elif line.startswith("event:"):
                event = line[6:].strip()
    except httpx.HTTPError as exc:
        raise transport_error(exc) from None
    if data:
        yield event or "message", "\n".join(data)


def parse_json(data: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ProviderError(
            FailureClass.STREAM, "the upstream sent a malformed stream event"
        ) from None


__all__ = ["open_stream", "parse_json", "read_body", "sse_events", "transport_error"]
