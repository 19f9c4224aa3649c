"""Server-Sent Events: event encoding, ``SSEResponse`` and ``TokenStreamResponse``.

The framing follows the WHATWG HTML "server-sent events" section: an event is
``field: value`` lines ended by a blank line, and a line break inside a value
(CR, LF or CRLF) would end the line early, so values are split into one
``data:`` line per line. That is what keeps a token such as ``"hi\\n\\nevent: x"``
from injecting a second event.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import error_envelope
from .responses import HeaderInput, StreamingResponse

_LINE_BREAK = re.compile(r"\r\n|\r|\n")

SSE_HEADERS = {
    "cache-control": "no-cache",
    # nginx and some proxies buffer responses unless told not to.
    "x-accel-buffering": "no",
}


def _field_lines(name: bytes, value: str) -> bytes:
    return b"".join(
        name + b": " + line.encode("utf-8") + b"\n" for line in _LINE_BREAK.split(value)
    )


def _single_line(name: str, value: str) -> bytes:
    if _LINE_BREAK.search(value):
        raise ValueError(f"SSE {name} must not contain a line break: {value!r}")
    return f"{name}: {value}\n".encode()


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event. ``data`` that is not a string is sent as JSON."""

    data: Any = None
    event: str | None = None
    id: str | int | None = None
    retry: int | None = None
    comment: str | None = None

    def encode(self) -> bytes:
        parts: list[bytes] = []
        if self.comment is not None:
            parts.append(_field_lines(b"", self.comment))
        if self.event is not None:
            parts.append(_single_line("event", self.event))
        if self.id is not None:
            parts.append(_single_line("id", str(self.id)))
        if self.retry is not None:
            parts.append(f"retry: {int(self.retry)}\n".encode())
        if self.data is not None:
            data = self.data if isinstance(self.data, str) else orjson.dumps(self.data).decode()
            parts.append(_field_lines(b"data", data))
        return b"".join(parts) + b"\n"


def encode_comment(text: str) -> bytes:
    """An SSE comment (ignored by clients); used for keep-alives."""
    return _field_lines(b"", text) + b"\n"


def encode_data(text: str) -> bytes:
    """One event whose data is ``text``, line breaks and all."""
    return _field_lines(b"data", text) + b"\n"


class SSEResponse(StreamingResponse):
    """A ``text/event-stream`` response fed by an (async) iterator.

    Items may be:

    - ``str`` or ``bytes``: written as they are, already framed
      (``"data: 1\\n\\n"``), as the seed's samples yield them;
    - ``ServerSentEvent``: encoded;
    - ``dict`` or ``list``: one event whose data is the JSON.

    Idle streams get a ``: ping`` comment every ``ping_interval`` seconds
    (default: the app's ``sse_ping_interval``, 15 s). An exception in the
    producer after the stream began ends it with an ``event: error`` frame
    carrying the JSON error envelope.
    """

    media_type = "text/event-stream"
    keepalive = encode_comment("ping")

    def __init__(
        self,
        content: AsyncIterable[Any] | Iterable[Any],
        status_code: int = 200,
        headers: HeaderInput = None,
        ping_interval: float | None = None,
    ) -> None:
        merged = dict(SSE_HEADERS)
        if headers:
            merged.update(headers.items() if isinstance(headers, Mapping) else headers)
        super().__init__(content, status_code, merged, keepalive_interval=ping_interval)

    def encode(self, item: Any) -> bytes:
        if isinstance(item, str):
            return item.encode("utf-8")
        if isinstance(item, bytes):
            return item
        if isinstance(item, ServerSentEvent):
            return item.encode()
        if isinstance(item, dict | list):
            return b"data: " + orjson.dumps(item) + b"\n\n"
        raise TypeError(
            "an SSE item must be str, bytes, ServerSentEvent, dict or list, "
            f"not {type(item).__name__}"
        )

    def encode_error(self, exc: BaseException) -> bytes | None:
        envelope = error_envelope(
            "The stream failed on the server.", "server_error", "stream_error"
        )
        return ServerSentEvent(data=envelope, event="error").encode()


class TokenStreamResponse(SSEResponse):
    """SSE where each item is a text token sent as one ``data:`` event.

    A token with line breaks becomes several ``data:`` lines of one event, so a
    client's SSE parser gives back exactly the token. SSE data cannot carry a
    carriage return (parsers read CR and CRLF as line ends and join lines with
    LF), so a token's CR and CRLF arrive as LF; every other character, U+2028
    and friends included, arrives unchanged.
    """

    def encode(self, item: Any) -> bytes:
        if isinstance(item, str):
            if "\n" in item or "\r" in item:
                return encode_data(item)
            return b"data: " + item.encode("utf-8") + b"\n\n"
        if isinstance(item, ServerSentEvent):
            return item.encode()
        raise TypeError(f"a token must be str, not {type(item).__name__}")


__all__ = [
    "SSEResponse",
    "ServerSentEvent",
    "TokenStreamResponse",
    "encode_comment",
    "encode_data",
]
