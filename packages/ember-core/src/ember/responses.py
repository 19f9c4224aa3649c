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
    """A response with a body known in full before it is sent.

    ``headers`` is a dict, one value per name. A header that must repeat
    (``Set-Cookie``) is given as a list of pairs, or added with
    ``append_header``; its further values are sent after the dict's.
    """

    media_type: str | None = None
    charset = "utf-8"
    # Values of a repeated header beyond the first; a class-level empty tuple
    # keeps the usual response from building a list it never fills.
    repeated_headers: list[tuple[str, str]] | tuple[()] = ()

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
        self.headers: dict[str, str] = {}
        if headers:
            self._set_headers(headers)
        self.body = self.render(content)

    def append_header(self, name: str, value: str) -> None:
        """Add a header without replacing one of the same name (``Set-Cookie``)."""
        name = name.lower()
        if name in self.headers:
            self.repeated_headers = [*self.repeated_headers, (name, value)]
        else:
            self.headers[name] = value

    def _set_headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        # Called once, on a response whose headers are still empty.
        if isinstance(headers, Mapping):
            self.headers = {name.lower(): value for name, value in headers.items()}
            return
        for name, value in headers:
            self.append_header(name, value)

    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        if isinstance(content, bytes):
            return content
        return str(content).encode(self.charset)

    def raw_headers(self, content_length: int | None) -> list[tuple[bytes, bytes]]:
        headers = self.headers
        raw = (
            [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
            if headers
            else []
        )
        if self.repeated_headers:
            raw += [(n.encode("latin-1"), v.encode("latin-1")) for n, v in self.repeated_headers]
        if content_length is not None and "content-length" not in headers:
            raw.append((b"content-length", b"%d" % content_length))
        media_type = self.media_type
        if media_type is not None and "content-type" not in headers:
            content_type = _CONTENT_TYPES.get((media_type, self.charset))
            if content_type is None:
                content_type = _content_type(media_type, self.charset)
            raw.append((b"content-type", content_type))
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


# Content-Type values already encoded, per (media type, charset): building one
# is a measurable share of a small response's cost. Bounded, in case media
# types are made up per response.
_CONTENT_TYPES: dict[tuple[str, str], bytes] = {}


def _content_type(media_type: str, charset: str) -> bytes:
    text = media_type
    if text.startswith("text/") and "charset=" not in text:
        text += f"; charset={charset}"
    value = text.encode("latin-1")
    if len(_CONTENT_TYPES) < 64:
        _CONTENT_TYPES[media_type, charset] = value
    return value


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
        self.headers = {}
        if headers:
            self._set_headers(headers)
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
        await _Pump(self, iterator, receive, send, interval if self.keepalive else None).run()


class _Pump:
    """Moves items from ``iterator`` to ``send`` with three cooperating parts.

    A producer task drains the iterator into a buffer; a watcher task waits for
    ``http.disconnect``; ``run`` writes whatever the buffer holds in one
    ``send``. A slow socket thus batches a fast producer's items, and a client
    that leaves cancels the producer mid-await instead of at its next item.

    The state lives in slots and the wake-ups are bare futures (not closures
    and ``asyncio.Event``s): an idle stream holds all of it for as long as it
    is open, so its size is the memory cost of each open connection.
    """

    __slots__ = (
        "buffer",
        "buffered",
        "disconnected",
        "failure",
        "finished",
        "iterator",
        "keepalive_interval",
        "last_write",
        "loop",
        "ping_due",
        "producer",
        "receive",
        "response",
        "room",
        "send",
        "timer",
        "wake",
        "watcher",
    )

    def __init__(
        self,
        response: StreamingResponse,
        iterator: AsyncIterator[Any],
        receive: Receive,
        send: Send,
        keepalive_interval: float | None,
    ) -> None:
        self.response = response
        self.iterator = iterator
        self.receive = receive
        self.send = send
        self.keepalive_interval = keepalive_interval
        self.loop = asyncio.get_running_loop()
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.finished = False
        self.disconnected = False
        self.ping_due = False
        self.failure: BaseException | None = None
        self.wake: asyncio.Future[None] | None = None  # set while ``run`` sleeps
        self.room: asyncio.Future[None] | None = None  # set while the producer waits
        self.timer: asyncio.TimerHandle | None = None
        self.last_write = self.loop.time()

    async def produce(self) -> None:
        encode = self.response.encode
        try:
            async for item in self.iterator:
                data = encode(item)
                self.buffer.append(data)
                self.buffered += len(data)
                _resolve(self.wake)
                if self.buffered >= _HIGH_WATER_BYTES:
                    self.room = self.loop.create_future()
                    await self.room
        except Exception as exc:
            self.failure = exc
        finally:
            self.finished = True
            _resolve(self.wake)
            await _close(self.iterator)

    async def watch(self) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                self.producer.cancel()
                _resolve(self.wake)
                return

    def keepalive_due(self) -> None:
        interval = self.keepalive_interval
        assert interval is not None
        idle = self.loop.time() - self.last_write
        if idle >= interval * 0.999:
            self.ping_due = True
            _resolve(self.wake)
            self.timer = self.loop.call_later(interval, self.keepalive_due)
        else:
            self.timer = self.loop.call_later(interval - idle, self.keepalive_due)

    async def run(self) -> None:
        loop, send, buffer = self.loop, self.send, self.buffer
        self.producer = loop.create_task(self.produce())
        self.watcher = loop.create_task(self.watch())
        if self.keepalive_interval:
            self.timer = loop.call_later(self.keepalive_interval, self.keepalive_due)
        try:
            while True:
                if not (buffer or self.finished or self.disconnected or self.ping_due):
                    self.wake = loop.create_future()
                    await self.wake
                    self.wake = None
                if self.disconnected:
                    return
                if buffer:
                    data = b"".join(buffer) if len(buffer) > 1 else buffer[0]
                    buffer.clear()
                    self.buffered = 0
                    _resolve(self.room)
                elif self.finished:
                    break
                else:
                    data = self.response.keepalive or b""
                self.ping_due = False
                self.last_write = loop.time()
                await send({"type": "http.response.body", "body": data, "more_body": True})
            if self.failure is not None:
                logger.error("stream failed after the response started", exc_info=self.failure)
                trailer = self.response.encode_error(self.failure)
                if trailer:
                    await send({"type": "http.response.body", "body": trailer, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if self.timer is not None:
                self.timer.cancel()
            self.watcher.cancel()
            # After a disconnect the watcher already cancelled the producer; a
            # second cancel would interrupt the iterator's cleanup (its finally
            # blocks closing upstream connections).
            if not self.producer.done() and not self.disconnected:
                self.producer.cancel()
            # Wait for the producer so the iterator's finally has run before we return.
            await asyncio.gather(self.producer, self.watcher, return_exceptions=True)


def _resolve(waiter: asyncio.Future[None] | None) -> None:
    """Wake whoever awaits ``waiter``, if anyone still does."""
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


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


def to_response(value: Any) -> Response:
    """Turn what a handler returned into a response.

    ``Response`` → itself; ``dict``/``list`` (and other JSON values) → JSON;
    ``str`` → text/plain; ``bytes`` → application/octet-stream.
    """
    if isinstance(value, Response):
        return value
    if isinstance(value, (dict, list)):  # a tuple: faster than `dict | list` here
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
