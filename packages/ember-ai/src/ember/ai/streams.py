"""Resumable ai_route streams: event ids, the replay buffer and the reply text.

A streamed ai_route reply is produced by a background task, not by the
connection: the task reads the handler's SSE response, gives every data
event the session's next event id, writes it to the store's replay buffer
and hands it to the live connection. So a client that drops does not stop
the reply; it reconnects with ``Last-Event-ID`` and gets the events it missed,
then the rest as they come. When the reply ends, its text becomes the
assistant message of the turn.

Nobody may come back, though, and a model generating for no reader is still
billed. So once the live connection is gone the reply goes on only while
someone may resume it: ``resume_grace`` seconds, extended for as long as a
resuming reader is attached. Readers keep a short-lived mark in the session
store (``mark_reader``), so a reader in another process counts too. When the
grace runs out the producer task is cancelled: the handler's generator is
closed (its ``finally`` closes any upstream request), the text so far is
recorded, and the buffer ends with ``event: error`` code ``reply_abandoned``.

Wire format of one turn::

    id: 7
    data: Sure!

    ...
    id: 12
    event: done
    data: [DONE]

or, when the producer fails after the first event or is stopped, a final
``event: error`` whose data is the JSON error envelope. Keep-alive comments
carry no id.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
)
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import orjson
from ember.errors import HTTPError, error_envelope
from ember.sse import SSEResponse, TokenStreamResponse

from .sessions import SessionStore, SessionStoreUnavailable

logger = logging.getLogger("ember.ai")

DONE_BODY = b"event: done\ndata: [DONE]\n\n"
_LINE_BREAKS = re.compile(rb"\r\n|\r")

# A resuming reader renews its mark in the store every READER_HEARTBEAT
# seconds; a mark outlives a reader that vanished by at most READER_TTL.
READER_HEARTBEAT = 1.0
READER_TTL = 3.0


def sse_stream(
    tokens: AsyncIterable[str] | Iterable[str], *, headers: dict[str, str] | None = None
) -> TokenStreamResponse:
    """Stream text tokens as SSE, one ``data:`` event per token.

    In an ``ai_route`` each event also gets an ``id`` and the joined tokens are
    recorded as the assistant's reply; elsewhere it is a ``TokenStreamResponse``.
    """
    return TokenStreamResponse(tokens, headers=headers)


# ---------------------------------------------------------------- parsing frames


class FrameSplitter:
    """Cuts a byte stream into whole SSE events (blocks ending in a blank line)."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        data = self._pending + _LINE_BREAKS.sub(b"\n", data)
        *blocks, self._pending = data.split(b"\n\n")
        return [block + b"\n\n" for block in blocks if block.strip(b"\n")]

    def flush(self) -> list[bytes]:
        rest, self._pending = self._pending.strip(b"\n"), b""
        return [rest + b"\n\n"] if rest else []


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    body: bytes  # the block without any id line
    event: str | None
    data: str | None  # None: no data line (a comment or a bare field)


def parse_event(block: bytes) -> ParsedEvent:
    lines = [line for line in block.split(b"\n") if line]
    data_lines: list[str] = []
    event: str | None = None
    kept: list[bytes] = []
    for line in lines:
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"id":
            continue  # ai_route numbers events itself
        kept.append(line)
        if name == b"data":
            data_lines.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    body = b"".join(line + b"\n" for line in kept) + b"\n"
    return ParsedEvent(body, event, "\n".join(data_lines) if data_lines else None)


def reply_text(event: ParsedEvent) -> str:
    """The part of the assistant's reply an event carries.

    Token events carry their text; OpenAI ``chat.completion.chunk`` events the
    ``delta.content`` of their choices; ``[DONE]``, named events (``event:
    error``...) and comments carry none.
    """
    if event.data is None or event.event not in (None, "message") or event.data == "[DONE]":
        return ""
    if event.data.startswith("{") and '"choices"' in event.data:
        try:
            chunk = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return event.data
        if isinstance(chunk, dict) and isinstance(chunk.get("choices"), list):
            return "".join(
                str((choice.get("delta") or {}).get("content") or "")
                for choice in chunk["choices"]
                if isinstance(choice, dict)
            )
    return event.data


async def _blocks(response: SSEResponse) -> AsyncGenerator[bytes, None]:
    """The events a response would send, as whole blocks."""
    content = response.content
    splitter = FrameSplitter()
    iterator: AsyncIterator[Any] = (
        aiter(content) if isinstance(content, AsyncIterable) else _in_thread(content)
    )
    try:
        async for item in iterator:
            for block in splitter.feed(response.encode(item)):
                yield block
        for block in splitter.flush():
            yield block
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


async def _in_thread(content: Iterable[Any]) -> AsyncIterator[Any]:
    iterator = iter(content)
    sentinel = object()
    while (item := await anyio.to_thread.run_sync(next, iterator, sentinel)) is not sentinel:
        yield item


def store_unavailable(exc: SessionStoreUnavailable) -> HTTPError:
    """The error a client gets when the session store cannot be reached."""
    return HTTPError(
        503,
        f"The conversation could not be kept: {exc}. Retry shortly.",
        type="server_error",
        code="session_store_unavailable",
        headers={"retry-after": "1"},
    )


def error_body(exc: BaseException) -> bytes:
    """The ``event: error`` frame body for a failure after the stream began."""
    if isinstance(exc, SessionStoreUnavailable):
        exc = store_unavailable(exc)
    if isinstance(exc, HTTPError):
        envelope: Any = exc.to_dict()
    else:
        envelope = error_envelope(
            "The stream failed on the server.", "server_error", "stream_error"
        )
    return b"event: error\ndata: " + orjson.dumps(envelope) + b"\n\n"


ABANDONED_BODY = error_body(
    HTTPError(
        500,
        "The reply was stopped: the client disconnected and did not resume in time.",
        code="reply_abandoned",
    )
)
INTERRUPTED_BODY = error_body(
    HTTPError(
        500,
        "The reply was stopped: the server shut down before it was finished.",
        code="reply_interrupted",
    )
)


# ---------------------------------------------------------------- the producer


_END = object()


@dataclass
class StreamTurn:
    """One streamed reply being produced in the background.

    ``grace`` is how long (seconds) the reply goes on once the live connection
    is gone and no reader is attached; ``None``: always to its end.
    """

    store: SessionStore
    key: str
    grace: float | None = None
    live: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    detached: bool = False  # the live connection went away
    ended: bool = False  # the producer is past its last event
    abandoned: bool = False  # the grace ran out with nobody reading
    text: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    watchdog: asyncio.Task[None] | None = None

    def start(
        self,
        first: bytes | None,
        rest: AsyncIterator[bytes],
        finish: Callable[[str], Awaitable[None]],
    ) -> asyncio.Task[None]:
        self.task = asyncio.get_running_loop().create_task(self.run(first, rest, finish))
        return self.task

    async def _emit(self, body: bytes, *, final: bool) -> None:
        event_id = await self.store.append_event(self.key, body, final=final)
        if not self.detached:
            self.live.put_nowait(b"id: %d\n" % event_id + body)

    async def _end_with(self, body: bytes) -> None:
        try:
            await self._emit(body, final=True)
        except Exception:  # the store itself failed: tell the live client at least
            logger.exception("could not buffer the last event of an ai_route stream")
            if not self.detached:
                self.live.put_nowait(body)

    async def _handle(self, block: bytes) -> None:
        event = parse_event(block)
        if event.data is None and event.event is None:
            if not self.detached:  # a comment: passed on, never numbered or buffered
                self.live.put_nowait(event.body)
            return
        self.text.append(reply_text(event))
        await self._emit(event.body, final=False)

    async def run(
        self,
        first: bytes | None,
        rest: AsyncIterator[bytes],
        finish: Callable[[str], Awaitable[None]],
    ) -> None:
        """Produce every event, then call ``finish(reply_text)`` whatever happens."""
        try:
            if first is not None:
                await self._handle(first)
            async for block in rest:
                await self._handle(block)
            await self._emit(DONE_BODY, final=True)
        except asyncio.CancelledError:  # abandoned, or the app is shutting down
            await self._end_with(ABANDONED_BODY if self.abandoned else INTERRUPTED_BODY)
            raise
        except Exception as exc:
            logger.error("an ai_route stream failed after it began", exc_info=exc)
            await self._end_with(error_body(exc))
        finally:
            self.ended = True
            if self.watchdog is not None:
                self.watchdog.cancel()
            # Cancelled between two events, the handler's generator is still
            # open: close it now, so its upstream request ends with it.
            aclose = getattr(rest, "aclose", None)
            try:
                if aclose is not None:
                    await aclose()
            except Exception:
                logger.exception("closing an ai_route handler's stream failed")
            self.live.put_nowait(_END)
            try:
                await finish("".join(self.text))
            except Exception:
                logger.exception("recording a streamed reply failed")

    async def tail(self) -> AsyncIterator[bytes]:
        """What the live connection sends; stops at the end of the reply."""
        try:
            while (item := await self.live.get()) is not _END:
                yield item
        finally:
            self.detached = True
            if not self.ended and self.grace is not None:
                self.watchdog = asyncio.get_running_loop().create_task(self._expire(self.grace))

    async def _expire(self, grace: float) -> None:
        """Cancel the reply once ``grace`` seconds pass with no reader attached."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while True:
            try:
                reading = await self.store.has_reader(self.key)
            except Exception:  # then nobody can resume from this store either
                logger.warning("could not check for readers of an ai_route stream", exc_info=True)
                reading = False
            now = loop.time()
            if reading:
                deadline = now + grace
            elif now >= deadline:
                break
            await asyncio.sleep(READER_HEARTBEAT if reading else deadline - now)
        if not self.ended and self.task is not None:
            logger.info("stopping an ai_route reply that nobody is reading")
            self.abandoned = True
            self.task.cancel()


async def first_block(
    response: SSEResponse,
) -> tuple[bytes | None, AsyncGenerator[bytes, None]]:
    """Pull the first event, so a failure before it is still a plain JSON error.

    Raises whatever the producer raised before its first event.
    """
    blocks = _blocks(response)
    try:
        first = await anext(blocks)
    except StopAsyncIteration:
        return None, blocks
    return first, blocks


# ---------------------------------------------------------------- resuming


def parse_last_event_id(value: str) -> int:
    if not value.strip().isdigit():
        raise HTTPError(
            400,
            "Last-Event-ID must be an event id this server sent.",
            code="invalid_last_event_id",
            param="Last-Event-ID",
        )
    return int(value.strip())


async def replay(
    store: SessionStore, key: str, last_id: int, idle_timeout: float
) -> AsyncIterator[bytes]:
    """The events after ``last_id`` up to the end of its stream, then waits
    for the live rest. Raises HTTPError 410 when ``last_id`` is not buffered."""
    events = await store.events_since(key, last_id)
    if events is None:
        raise HTTPError(
            410,
            "The stream cannot be resumed from this Last-Event-ID: its events have expired "
            "or it was never sent in this session. Send the message again.",
            type="invalid_request_error",
            code="stream_not_resumable",
            param="Last-Event-ID",
        )

    async def generate() -> AsyncIterator[bytes]:
        if events[0].final:
            return  # that stream had ended: nothing was missed
        pending = events[1:]
        cursor = last_id
        loop = asyncio.get_running_loop()
        deadline = loop.time() + idle_timeout
        next_mark = 0.0
        while True:
            try:
                if loop.time() >= next_mark:  # keeps the producer going (see StreamTurn)
                    await store.mark_reader(key, READER_TTL)
                    next_mark = loop.time() + READER_HEARTBEAT
                for event in pending:
                    yield event.frame()
                    cursor = event.id
                    if event.final:
                        return
                if pending:
                    deadline = loop.time() + idle_timeout
                remaining = deadline - loop.time()
                if remaining <= 0:
                    stalled = HTTPError(
                        504, "The stream stopped producing events.", code="stream_stalled"
                    )
                    yield error_body(stalled)
                    return
                pending = await store.wait_events(key, cursor, min(remaining, READER_HEARTBEAT))
            except SessionStoreUnavailable as exc:
                logger.error("resuming an ai_route stream: %s", exc)
                yield error_body(exc)
                return

    return generate()


__all__ = [
    "FrameSplitter",
    "StreamTurn",
    "parse_event",
    "replay",
    "reply_text",
    "sse_stream",
    "store_unavailable",
]
