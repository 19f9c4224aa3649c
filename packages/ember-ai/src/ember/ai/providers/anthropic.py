"""The ``anthropic`` provider: the Anthropic Messages API, and the translation
between its messages and tools and the OpenAI shapes, both ways.

Differences the translation bridges: the system prompt is a top-level field,
not a message; tool calls are ``tool_use`` content blocks with a parsed
``input``; tool results go back inside a *user* message as ``tool_result``
blocks; ``max_tokens`` is required.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from .base import (
    ChatRequest,
    Delta,
    FailureClass,
    ProviderError,
    ToolCallDelta,
    Usage,
    api_key_for,
    failure_for_status,
    redact,
    retry_after_seconds,
)
from .http import drain, open_stream, parse_json, read_body, sse_events

if TYPE_CHECKING:
    from ..router import ModelSpec

DEFAULT_URL = "https://api.anthropic.com/v1/messages"
API_VERSION = "2023-06-01"

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
FINISH_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def messages_url(endpoint: str) -> str:
    if not endpoint:
        return DEFAULT_URL
    endpoint = endpoint.rstrip("/")
    if endpoint.endswith("/messages"):
        return endpoint
    return endpoint + ("/messages" if endpoint.endswith("/v1") else "/v1/messages")


# -- OpenAI -> Anthropic ---------------------------------------------------


def _text_of(content: Any) -> str:
    """The text of OpenAI message content (a string or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
    )


def _arguments(raw: Any) -> Any:
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return {}  # a malformed call the model made: Anthropic needs an object


def to_anthropic_messages(
    messages: list[dict[str, Any]],
) -> tuple[str | None, list[dict[str, Any]]]:
    """``(system, messages)`` for the Messages API from OpenAI chat messages."""
    system: list[str] = []
    out: list[dict[str, Any]] = []

    def append(role: str, blocks: list[dict[str, Any]]) -> None:
        # Anthropic wants user and assistant turns to alternate: merge neighbours.
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text_of(message.get("content")))
        elif role == "tool":
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id", ""),
                "content": _text_of(message.get("content")),
            }
            if message.get("is_error"):
                block["is_error"] = True
            append("user", [block])
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            text = _text_of(message.get("content"))
            if text:
                blocks.append({"type": "text", "text": text})
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id", ""),
                        "name": function.get("name", ""),
                        "input": _arguments(function.get("arguments")),
                    }
                )
            if blocks:
                append("assistant", blocks)
        else:
            append("user", [{"type": "text", "text": _text_of(message.get("content"))}])
    return ("\n\n".join(system) if system else None), out


def to_anthropic_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        function = tool.get("function") or tool
        spec: dict[str, Any] = {
            "name": function["name"],
            "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
        }
        if function.get("description"):
            spec["description"] = function["description"]
        out.append(spec)
    return out


def to_anthropic_tool_choice(choice: Any, parallel: bool | None) -> dict[str, Any] | None:
    result: dict[str, Any] | None
    if choice is None:
        result = None
    elif choice == "auto":
        result = {"type": "auto"}
    elif choice == "required":
        result = {"type": "any"}
    elif choice == "none":
        result = {"type": "none"}
    elif isinstance(choice, dict):
        result = {"type": "tool", "name": (choice.get("function") or {}).get("name", "")}
    else:
        result = None
    if parallel is False:
        result = {**(result or {"type": "auto"}), "disable_parallel_tool_use": True}
    return result


def request_body(spec: ModelSpec, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    system, messages = to_anthropic_messages(request.messages)
    body: dict[str, Any] = {
        "model": spec.model_id,
        "messages": messages,
        "max_tokens": request.max_tokens or spec.max_tokens,
    }
    if system:
        body["system"] = system
    if request.tools:
        body["tools"] = to_anthropic_tools(request.tools)
        choice = to_anthropic_tool_choice(
            request.tool_choice, request.params.get("parallel_tool_calls")
        )
        if choice is not None:
            body["tool_choice"] = choice
    params = request.params
    for name in ("temperature", "top_p", "top_k", "metadata"):
        if params.get(name) is not None:
            body[name] = params[name]
    stop = params.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if stream:
        body["stream"] = True
    return body


# -- Anthropic -> OpenAI ---------------------------------------------------


def _block_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content or () if b.get("type") == "text")


def to_openai_messages(
    system: str | list[dict[str, Any]] | None, messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """OpenAI chat messages from a Messages API ``system`` and ``messages``."""
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": _block_text(system)})
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            out.append({"role": message["role"], "content": content})
            continue
        blocks = list(content or ())
        if message["role"] == "assistant":
            entry: dict[str, Any] = {"role": "assistant", "content": _block_text(blocks) or None}
            calls = [
                {
                    "id": b["id"],
                    "type": "function",
                    "function": {"name": b["name"], "arguments": json.dumps(b.get("input") or {})},
                }
                for b in blocks
                if b.get("type") == "tool_use"
            ]
            if calls:
                entry["tool_calls"] = calls
            out.append(entry)
            continue
        for block in blocks:
            if block.get("type") == "tool_result":
                result: dict[str, Any] = {
                    "role": "tool",
                    "tool_call_id": block.get("tool_use_id", ""),
                    "content": _block_text(block.get("content")),
                }
                out.append(result)
        text = _block_text(blocks)
        if text:
            out.append({"role": "user", "content": text})
    return out


def to_openai_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        function: dict[str, Any] = {"name": tool["name"], "parameters": tool.get("input_schema")}
        if tool.get("description"):
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out


# -- the stream ------------------------------------------------------------


class StreamParser:
    """Turns Messages API stream events into Deltas.

    Content blocks are numbered across text and tool_use; tool calls get their
    own indexes 0..n in order, as OpenAI numbers them. Usage is cumulative in
    ``message_delta``, so the last value wins; it is emitted at ``message_stop``.
    """

    def __init__(self) -> None:
        self.tool_index: dict[int, int] = {}
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.finished = False

    def feed(self, event: str, data: Mapping[str, Any]) -> Delta | None:
        kind = data.get("type", event)
        if kind == "message_start":
            usage = (data.get("message") or {}).get("usage") or {}
            self.prompt_tokens = _input_tokens(usage)
            self.completion_tokens = int(usage.get("output_tokens") or 0)
        elif kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = self.tool_index.setdefault(int(data.get("index", 0)), len(self.tool_index))
                call = ToolCallDelta(index, id=block.get("id"), name=block.get("name"))
                return Delta(tool_calls=(call,))
            if block.get("type") == "text" and block.get("text"):
                return Delta(text=block["text"])
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                return Delta(text=delta["text"])
            if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                tool = self.tool_index.get(int(data.get("index", 0)))
                if tool is not None:
                    return Delta(tool_calls=(ToolCallDelta(tool, arguments=delta["partial_json"]),))
        elif kind == "message_delta":
            usage = data.get("usage") or {}
            if usage.get("output_tokens") is not None:
                self.completion_tokens = int(usage["output_tokens"])
            if usage.get("input_tokens") is not None:
                self.prompt_tokens = _input_tokens(usage)
            reason = (data.get("delta") or {}).get("stop_reason")
            if reason:
                return Delta(finish_reason=STOP_REASONS.get(reason, "stop"))
        elif kind == "message_stop":
            self.finished = True
            return Delta(usage=Usage(self.prompt_tokens, self.completion_tokens))
        elif kind == "error":
            raise error_from_body(0, data, {}, None)
        return None  # ping, content_block_stop and event types added later


def _input_tokens(usage: Mapping[str, Any]) -> int:
    return sum(
        int(usage.get(name) or 0)
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )


def error_from_body(
    status: int, body: Any, headers: Mapping[str, str], key: str | None
) -> ProviderError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    kind = str(error.get("type") or "")
    message = redact(str(error.get("message") or f"upstream answered {status}"), key)
    failure = failure_for_status(status) if status else FailureClass.SERVER
    if kind == "rate_limit_error":
        failure = FailureClass.RATE_LIMIT
    elif kind in ("overloaded_error", "api_error"):
        failure = FailureClass.SERVER
    elif kind in ("authentication_error", "permission_error"):
        failure = FailureClass.AUTH
    elif "prompt is too long" in message or "context window" in message:
        failure = FailureClass.CONTEXT_LENGTH
    return ProviderError(
        failure, message, status=status or None, retry_after=retry_after_seconds(headers)
    )


def _headers(spec: ModelSpec, key: str | None) -> dict[str, str]:
    headers = {"content-type": "application/json", "anthropic-version": API_VERSION}
    headers.update(spec.extra_headers)
    if key:
        headers["x-api-key"] = key
    return headers


class AnthropicProvider:
    name = "anthropic"

    async def stream(
        self, spec: ModelSpec, request: ChatRequest, client: httpx.AsyncClient
    ) -> AsyncIterator[Delta]:
        key = api_key_for(spec)
        body = request_body(spec, request, stream=True)
        url = messages_url(spec.endpoint)
        async with open_stream(client, url, _headers(spec, key), body) as response:
            if response.status_code >= 400:
                raw = await read_body(response)
                try:
                    data = parse_json(raw.decode("utf-8", "replace"))
                except ProviderError:
                    data = None
                raise error_from_body(response.status_code, data, response.headers, key)
            parser = StreamParser()
            events = sse_events(response)
            async for event, data in events:
                payload = parse_json(data)
                if not isinstance(payload, dict):
                    continue
                delta = parser.feed(event, payload)
                if delta is not None:
                    yield delta
                if parser.finished:
                    await drain(events)
                    break
            if not parser.finished:
                raise ProviderError(
                    FailureClass.STREAM, "the upstream stream ended before message_stop"
                )


__all__ = [
    "FINISH_REASONS",
    "AnthropicProvider",
    "StreamParser",
    "messages_url",
    "request_body",
    "to_anthropic_messages",
    "to_anthropic_tool_choice",
    "to_anthropic_tools",
    "to_openai_messages",
    "to_openai_tools",
]
