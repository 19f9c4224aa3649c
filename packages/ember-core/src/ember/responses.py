"""Responses: fixed bodies, JSON (orjson) and streams.

Every response is an ASGI application, ``await response(scope, receive, send)``,
so middleware and plugins can build and send them the same way handlers do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

import anyio
import orjson

from .errors import HTTPError, error_body
from .types import Receive, Scope, Send

logger = logging.getLogger("ember")

HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]] | None


class Response:
    """A response with a body known in full before it is sent."""

    media_type: str | None = None
    charset = "utf-8"

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: HeaderInput = None,
        media_type: str | None = None,
    ) -> None:
        self.status_code = status_code
        if media_type is not None:
            self.media_type = media_type
        self.headers: dict[str, str] = _header_dict(headers)
        self.body = self.render(content)

    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        if isinstance(content, bytes):
            return content
        return str(content).encode(self.charset)

    def raw_headers(self, content_length: int | None) -> list[tuple[bytes, bytes]]:
        raw = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in self.headers.items()
        ]
        if content_length is not None and "content-length" not in self.headers:
            raw.append((b"content-length", str(content_length).encode("latin-1")))
        if self.media_type is not None and "content-type" not in self.headers:
            content_type = self.media_type
            if content_type.startswith("text/") and "charset=" not in content_type:
                content_type += f"; charset={self.charset}"
            raw.append((b"content-type", content_type.encode("latin-1")))
        return raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": self.raw_headers(len(self.body)),
            }
        )
        body = b"" if scope.get("method") == "HEAD" else self.body
        await send({"type": "http.response.body", "body": body})

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


class PlainTextResponse(Response):
    media_type = "text/plain"


class HTMLResponse(Response):
    media_type = "text/html"


class JSONResponse(Response):
    """JSON encoded with orjson (dataclasses, datetimes and UUIDs work too)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def error_response(error: HTTPError) -> Response:
    """The JSON error envelope response for ``error``."""
    response = Response(error_body(error), error.status, error.headers, "application/json")
    return response


# Items a producer has ready are joined into one write until this many bytes
# are waiting; then the producer waits for the socket (back-pressure).
_HIGH_WATER_BYTES = 64 * 1024


class StreamingResponse(Response):
    """A response whose body comes from an iterator, sent as it is produced.

    Items the producer has ready while the previous write is in flight are
    coalesced into one write; nothing waits for more items than are ready.
    When the client disconnects the iterator is closed at once (its
    ``finally`` blocks run), so no work continues for a reader that left.
    """

    keepalive: bytes | None = None  # sent when the stream idles (SSE uses a comment)

    def __init__(
        self,
        content: AsyncIterable[Any] | Iterable[Any],
        status_code: int = 200,
        headers: HeaderInput = None,
        media_type: str | None = None,
        keepalive_interval: float | None = None,
    ) -> None:
        self.status_code = status_code
        if media_type is not None:
            self.media_type = media_type
        self.headers = _header_dict(headers)
        self.body = b""
        self.content = content
        self.keepalive_interval = keepalive_interval

    def encode(self, item: Any) -> bytes:
        """Turn one produced item into the bytes written to the client."""
        if isinstance(item, bytes):
            return item
        if isinstance(item, str):
            return item.encode(self.charset)
        raise TypeError(f"a stream item must be str or bytes, not {type(item).__name__}")

    def encode_error(self, exc: BaseException) -> bytes | None:
        """Bytes telling the client the stream failed, or None to just end it."""
        return None

    def _iterate(self) -> AsyncIterator[Any]:
        content = self.content
        if isinstance(content, AsyncIterable):
            return aiter(content)
        return _iterate_in_thread(content)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        iterator = self._iterate()
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": self.raw_headers(None),
            }
        )
        if scope.get("method") == "HEAD":
            await _close(iterator)
            await send({"type": "http.response.body", "body": b""})
            return
        interval = self.keepalive_interval
        if interval is None and self.keepalive is not None:
            app = scope.get("app")
            interval = getattr(app, "sse_ping_interval", 15.0)
        await _pump(self, iterator, receive, send, interval if self.keepalive else None)


async def _pump(
    response: StreamingResponse,
    iterator: AsyncIterator[Any],
    receive: Receive,
    send: Send,
    keepalive_interval: float | None,
) -> None:
    """Move items from ``iterator`` to ``send`` with three cooperating parts.

    A producer task drains the iterator into a buffer; a watcher task waits for
    ``http.disconnect``; this coroutine writes whatever the buffer holds in one
    ``send``. A slow socket thus batches a fast producer's items, and a client
    that leaves cancels the producer mid-await instead of at its next item.
    """
    loop = asyncio.get_running_loop()
    buffer: list[bytes] = []
    buffered = 0
    wake = asyncio.Event()
    room = asyncio.Event()
    finished = False
    disconnected = False
    failure: BaseException | None = None

    async def produce() -> None:
        nonlocal buffered, finished, failure
        try:
            async for item in iterator:
                data = response.encode(item)
                buffer.append(data)
                buffered += len(data)
                wake.set()
                if buffered >= _HIGH_WATER_BYTES:
                    room.clear()
                    await room.wait()
        except Exception as exc:
            failure = exc
        finally:
            finished = True
            wake.set()
            await _close(iterator)

    async def watch() -> None:
        nonlocal disconnected
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
                producer.cancel()
                wake.set()
                return

    producer = loop.create_task(produce())
    watcher = loop.create_task(watch())
    last_write = loop.time()
    timer: asyncio.TimerHandle | None = None

    def keepalive_due() -> None:
        nonlocal timer
        idle = loop.time() - last_write
        assert keepalive_interval is not None
        if idle >= keepalive_interval * 0.999:
            wake.set()
            timer = loop.call_later(keepalive_interval, keepalive_due)
        else:
            timer = loop.call_later(keepalive_interval - idle, keepalive_due)

    if keepalive_interval:
        timer = loop.call_later(keepalive_interval, keepalive_due)
    try:
        while True:
            await wake.wait()
            wake.clear()
            if disconnected:
                return
            if buffer:
                data = b"".join(buffer) if len(buffer) > 1 else buffer[0]
                buffer.clear()
                buffered = 0
                room.set()
            elif finished:
                break
            elif keepalive_interval and response.keepalive is not None:
                data = response.keepalive
            else:
                continue
            last_write = loop.time()
            await send({"type": "http.response.body", "body": data, "more_body": True})
            if finished and not buffer:
                break
        if failure is not None:
            logger.error("stream failed after the response started", exc_info=failure)
            trailer = response.encode_error(failure)
            if trailer:
                await send({"type": "http.response.body", "body": trailer, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        if timer is not None:
            timer.cancel()
        watcher.cancel()
        # After a disconnect the watcher already cancelled the producer; a
        # second cancel would interrupt the iterator's cleanup (its finally
        # blocks closing upstream connections).
        if not producer.done() and not disconnected:
            producer.cancel()
        # Wait for the producer so the iterator's finally has run before we return.
        await asyncio.gather(producer, watcher, return_exceptions=True)


async def _close(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


async def _iterate_in_thread(content: Iterable[Any]) -> AsyncIterator[Any]:
    # A sync iterator may block (file reads, sync SDKs): step it in a worker thread.
    iterator = iter(content)
    sentinel = object()
    while True:
        item = await anyio.to_thread.run_sync(next, iterator, sentinel)
        if item is sentinel:
            return
        yield item


def _header_dict(headers: HeaderInput) -> dict[str, str]:
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {name.lower(): value for name, value in items}


def to_response(value: Any) -> Response:
    """Turn what a handler returned into a response.

    ``Response`` → itself; ``dict``/``list`` (and other JSON values) → JSON;
    ``str`` → text/plain; ``bytes`` → application/octet-stream.
    """
    if isinstance(value, Response):
        return value
    if isinstance(value, dict | list):
        return JSONResponse(value)
    if isinstance(value, str):
        return PlainTextResponse(value)
    if isinstance(value, bytes):
        return Response(value, media_type="application/octet-stream")
    return JSONResponse(value)


__all__ = [
    "HTMLResponse",
    "JSONResponse",
    "PlainTextResponse",
    "Response",
    "StreamingResponse",
    "error_response",
    "to_response",
]
