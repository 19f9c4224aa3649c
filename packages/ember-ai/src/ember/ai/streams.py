"""Resumable ai_route streams: event ids, the replay buffer and the reply text.

A streamed ai_route reply is produced by a background task, not by the
connection: the task reads the handler's SSE response, gives every data
event the session's next event id, writes it to the store's replay buffer
and hands it to the live connection. So a client that drops does not stop
the reply; it reconnects with ``Last-Event-ID`` and gets the events it missed,
then the rest as they come. When the reply ends, its text becomes the
assistant message of the turn.

Wire format of one turn::

    id: 7
    data: Sure!

    ...
    id: 12
    event: done
    data: [DONE]

or, when the producer fails after the first event, a final ``event: error``
whose data is the JSON error envelope. Keep-alive comments carry no id.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import orjson
from ember.errors import HTTPError, error_envelope
from ember.sse import SSEResponse, TokenStreamResponse

from .sessions import SessionStore

logger = logging.getLogger("ember.ai")

DONE_BODY = b"event: done\ndata: [DONE]\n\n"
_LINE_BREAKS = re.compile(rb"\r\n|\r")


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


async def _blocks(response: SSEResponse) -> AsyncIterator[bytes]:
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


def error_body(exc: BaseException) -> bytes:
    """The ``event: error`` frame body for a failure after the stream began."""
    if isinstance(exc, HTTPError):
        envelope: Any = exc.to_dict()
    else:
        envelope = error_envelope(
            "The stream failed on the server.", "server_error", "stream_error"
        )
    return b"event: error\ndata: " + orjson.dumps(envelope) + b"\n\n"


# ---------------------------------------------------------------- the producer


_END = object()


@dataclass
class StreamTurn:
    """One streamed reply being produced in the background."""

    store: SessionStore
    key: str
    live: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    detached: bool = False  # the live connection went away
    text: list[str] = field(default_factory=list)

    async def _emit(self, body: bytes, *, final: bool) -> None:
        event_id = await self.store.append_event(self.key, body, final=final)
        if not self.detached:
            self.live.put_nowait(b"id: %d\n" % event_id + body)

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
        except Exception as exc:
            logger.error("an ai_route stream failed after it began", exc_info=exc)
            try:
                await self._emit(error_body(exc), final=True)
            except Exception:  # the store itself failed: tell the live client at least
                logger.exception("could not buffer the error event of an ai_route stream")
                if not self.detached:
                    self.live.put_nowait(error_body(exc))
        finally:
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


async def first_block(response: SSEResponse) -> tuple[bytes | None, AsyncIterator[bytes]]:
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
        while True:
            for event in pending:
                yield event.frame()
                cursor = event.id
                if event.final:
                    return
            if pending:
                deadline = loop.time() + idle_timeout
            remaining = deadline - loop.time()
            if remaining <= 0:
                yield error_body(
                    HTTPError(504, "The stream stopped producing events.", code="stream_stalled")
                )
                return
            pending = await store.wait_events(key, cursor, min(remaining, 5.0))

    return generate()


__all__ = ["FrameSplitter", "StreamTurn", "parse_event", "replay", "reply_text", "sse_stream"]
