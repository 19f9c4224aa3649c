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
    cause = type(exc.__cause__).__mro__ if exc.__cause__ is not None else ()
    if isinstance(exc, httpx.ConnectError) or any(
        c.__name__ == "ClientConnectorError"
        for c in cause  # aiohttp's, under its transport
    ):
        return ProviderError(FailureClass.CONNECT, "could not connect to the upstream")
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(FailureClass.TIMEOUT, f"upstream timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return ProviderError(FailureClass.STREAM, "the upstream connection was cut mid-response")
    return ProviderError(FailureClass.CONNECT, f"upstream transport error ({type(exc).__name__})")


async def read_body(response: httpx.Response) -> bytes:
    try:
        return await response.aread()
    except httpx.HTTPError as exc:
        raise transport_error(exc) from None


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """``(event, data)`` pairs of an SSE body; comments and ids are skipped.

    Lines are split from the raw bytes here rather than with httpx's text
    line iterator: a stream's cost is per event, and this is the hot loop.
    Lines may end in LF or CRLF (every LLM API uses one of them).
    """
    event = ""
    data: list[str] = []
    pending = b""
    try:
        async for chunk in response.aiter_bytes():
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for raw in lines:
                line = raw[:-1] if raw.endswith(b"\r") else raw
                if not line:
                    if data:
                        yield event or "message", "\n".join(data)
                    event, data = "", []
                elif line.startswith(b"data:"):
                    value = line[6:] if line.startswith(b"data: ") else line[5:]
                    data.append(value.decode("utf-8", "replace"))
                elif line.startswith(b"event:"):
                    event = line[6:].strip().decode("utf-8", "replace")
    except httpx.HTTPError as exc:
        raise transport_error(exc) from None
    if pending.startswith(b"data:"):
        data.append(pending[5:].lstrip(b" ").decode("utf-8", "replace"))
    if data:
        yield event or "message", "\n".join(data)


async def drain(events: AsyncIterator[tuple[str, str]], limit: float = 1.0) -> None:
    """Read what follows a stream's last event (the end of the chunked body),
    so its connection goes back to the pool instead of being closed. A server
    that does not end the body within ``limit`` seconds loses the connection."""
    try:
        async with asyncio.timeout(limit):
            async for _ in events:
                pass
    except (TimeoutError, ProviderError):
        pass


def parse_json(data: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ProviderError(
            FailureClass.STREAM, "the upstream sent a malformed stream event"
        ) from None


__all__ = ["drain", "open_stream", "parse_json", "read_body", "sse_events", "transport_error"]
