"""Reading a response as it streams past, to learn the tokens it really used.

The real usage comes, in order of trust, from ``request.state.ember_usage``
(set by ember-ai, which knows the provider's count), from a ``usage`` object
in the response itself (an OpenAI or Anthropic JSON body, the final usage
chunk of an OpenAI stream, Anthropic's cumulative ``message_delta.usage``), or
else from counting the text the response streamed (SSE ``data:`` lines). The
body is only read, never changed or held back.
"""

from __future__ import annotations

from typing import Any

import orjson

from .estimate import count_text

# A JSON body larger than this is not kept for its usage (it is still sent).
_MAX_JSON_BYTES = 1024 * 1024


class Meter:
    """Watches one response: status, kind, usage and streamed tokens."""

    __slots__ = (
        "_headers",
        "_json",
        "_kind",
        "_partial",
        "completion_tokens",
        "finished",
        "status",
        "usage",
    )

    def __init__(self) -> None:
        self.status: int | None = None
        self.finished = False
        self.completion_tokens = 0
        self.usage: dict[str, int] = {}
        self._headers: list[tuple[bytes, bytes]] = []
        self._kind: str | None = None  # "sse", "json", "" (not read); None: not looked yet
        self._partial = b""
        self._json: list[bytes] | None = None

    def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self._headers = headers  # the content type is looked at only if the body may matter

    def _look(self) -> str:
        for name, value in self._headers:
            if len(name) == 12 and name.lower() == b"content-type":
                if value.startswith(b"text/event-stream"):
                    return "sse"
                if b"json" in value:
                    self._json = []
                    return "json"
                break
        return ""

    def feed(self, chunk: bytes, more: bool) -> None:
        kind = self._kind
        if kind is None:
            if not more and tells_nothing(chunk):
                # The whole body at once, and nothing in it a meter reads (the
                # usual small JSON answer): its type need not even be looked at.
                self.finished = True
                return
            kind = self._kind = self._look()
        if kind == "json" and self._json is not None:
            if not more and not self._json:  # the usual JSON response: one chunk
                self.finished = True
                if len(chunk) <= _MAX_JSON_BYTES:
                    self._read_json(chunk)
                return
            self._json.append(chunk)
            if sum(map(len, self._json)) > _MAX_JSON_BYTES:
                self._json = None
        elif kind == "sse":
            self._feed_sse(chunk)
        if not more:
            self.finished = True
            if kind == "json" and self._json is not None:
                self._read_json(b"".join(self._json))

    def _read_json(self, body: bytes) -> None:
        if b'"usage"' not in body and b"\\u" not in body:
            return  # no usage object: nothing to parse for
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        if isinstance(value, dict):
            self._take_usage(value.get("usage"))

    def _feed_sse(self, chunk: bytes) -> None:
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line.startswith(b"data:"):
                self._read_event(line[5:].strip())

    def _read_event(self, data: bytes) -> None:
        if not data or data == b"[DONE]":
            return
        if data[:1] != b"{":
            self.completion_tokens += count_text(data.decode("utf-8", "replace"))
            return
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            self.completion_tokens += count_text(data.decode("utf-8", "replace"))
            return
        if not isinstance(event, dict):
            return
        self._take_usage(event.get("usage"))
        message = event.get("message")  # Anthropic message_start
        if isinstance(message, dict):
            self._take_usage(message.get("usage"))
        self.completion_tokens += count_text(_event_text(event))

    def _take_usage(self, usage: Any) -> None:
        # Anthropic's stream repeats cumulative counts: the latest value wins.
        if not isinstance(usage, dict):
            return
        for field in ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens"):
            value = usage.get(field)
            if isinstance(value, int) and not isinstance(value, bool):
                self.usage[field] = value


def tells_nothing(body: bytes) -> bool:
    """Whether a meter can learn nothing from this body: no ``usage`` key (which
    could only hide behind a ``\\u`` escape) and no SSE ``data:`` line."""
    return b'"usage"' not in body and b"\\u" not in body and b"data:" not in body


def _event_text(event: dict[str, Any]) -> str:
    """The generated text in one streamed event, OpenAI or Anthropic."""
    parts: list[str] = []
    choices = event.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            if isinstance(delta.get("content"), str):
                parts.append(delta["content"])
            for call in delta.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    parts.append(str(function.get("name") or ""))
                    parts.append(str(function.get("arguments") or ""))
        return "".join(parts)
    delta = event.get("delta")
    if isinstance(delta, dict):
        for field in ("text", "partial_json", "thinking"):
            if isinstance(delta.get(field), str):
                parts.append(delta[field])
    elif isinstance(event.get("token"), str):
        parts.append(event["token"])
    return "".join(parts)


__all__ = ["Meter", "tells_nothing"]
