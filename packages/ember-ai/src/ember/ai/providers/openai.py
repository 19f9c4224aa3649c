"""The ``openai`` provider: OpenAI Chat Completions and every server that speaks it.

vLLM, Ollama, LM Studio, llama.cpp and others serve the same API: give the
``ModelSpec`` their base URL as ``endpoint`` (``http://127.0.0.1:11434/v1``)
and no ``api_key_env`` if they need no key. Streams always ask for
``stream_options.include_usage`` so the usage is exact, never estimated.
"""

from __future__ import annotations

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

DEFAULT_URL = "https://api.openai.com/v1/chat/completions"


def chat_url(endpoint: str) -> str:
    """The Chat Completions URL for an endpoint given in full or as a base URL."""
    if not endpoint:
        return DEFAULT_URL
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/chat/completions") else endpoint + "/chat/completions"


def request_body(spec: ModelSpec, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {**request.params, "model": spec.model_id, "messages": request.messages}
    if request.tools:
        body["tools"] = request.tools
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
    if request.max_tokens is not None:
        # OpenAI's own API deprecated max_tokens (reasoning models refuse it);
        # compatible servers (vLLM, Ollama...) still expect max_tokens.
        official = chat_url(spec.endpoint).startswith("https://api.openai.com/")
        body["max_completion_tokens" if official else "max_tokens"] = request.max_tokens
    if stream:
        body["stream"] = True
        options = dict(request.params.get("stream_options") or {})
        options["include_usage"] = True
        body["stream_options"] = options
    else:
        body.pop("stream_options", None)
    return body


def parse_usage(data: Mapping[str, Any] | None) -> Usage | None:
    if not data:
        return None
    return Usage(int(data.get("prompt_tokens") or 0), int(data.get("completion_tokens") or 0))


def parse_chunk(chunk: Mapping[str, Any]) -> Delta | None:
    """The Delta of one ``chat.completion.chunk`` (first choice), or None if empty."""
    text = refusal = ""
    calls: list[ToolCallDelta] = []
    finish = None
    for choice in chunk.get("choices") or ():
        if choice.get("index", 0) != 0:
            continue  # n > 1 is not routed: only the first choice is read
        delta = choice.get("delta") or {}
        text = delta.get("content") or ""
        refusal = delta.get("refusal") or ""
        for call in delta.get("tool_calls") or ():
            function = call.get("function") or {}
            calls.append(
                ToolCallDelta(
                    index=int(call.get("index", 0)),
                    id=call.get("id"),
                    name=function.get("name"),
                    arguments=function.get("arguments") or "",
                )
            )
        finish = choice.get("finish_reason")
    usage = parse_usage(chunk.get("usage"))
    if not (text or refusal or calls or finish or usage):
        return None
    return Delta(text, tuple(calls), finish, usage, refusal)


def parse_completion(data: Mapping[str, Any]) -> Delta:
    """A whole non-streamed ``chat.completion`` as one Delta."""
    choices = data.get("choices") or [{}]
    message = choices[0].get("message") or {}
    calls = tuple(
        ToolCallDelta(
            index=i,
            id=call.get("id"),
            name=(call.get("function") or {}).get("name"),
            arguments=(call.get("function") or {}).get("arguments") or "",
        )
        for i, call in enumerate(message.get("tool_calls") or ())
    )
    return Delta(
        text=message.get("content") or "",
        tool_calls=calls,
        finish_reason=choices[0].get("finish_reason") or "stop",
        usage=parse_usage(data.get("usage")),
        refusal=message.get("refusal") or "",
    )


def error_from_body(
    status: int, body: Any, headers: Mapping[str, str], key: str | None
) -> ProviderError:
    """Classify an OpenAI error envelope (context length and content policy
    come as 400s that only the ``code`` tells apart)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    code = str(error.get("code") or "")
    message = redact(str(error.get("message") or f"upstream answered {status}"), key)
    failure = failure_for_status(status)
    if code == "context_length_exceeded" or "maximum context length" in message:
        failure = FailureClass.CONTEXT_LENGTH
    elif code in ("content_policy_violation", "content_filter") or "content_filter" in code:
        failure = FailureClass.CONTENT_POLICY
    elif code == "rate_limit_exceeded":
        failure = FailureClass.RATE_LIMIT
    return ProviderError(failure, message, status=status, retry_after=retry_after_seconds(headers))


async def _raise_for_status(response: httpx.Response, key: str | None) -> None:
    if response.status_code < 400:
        return
    raw = await read_body(response)
    try:
        body = parse_json(raw.decode("utf-8", "replace"))
    except ProviderError:
        body = None
    raise error_from_body(response.status_code, body, response.headers, key)


def _headers(spec: ModelSpec, key: str | None) -> dict[str, str]:
    headers = {"content-type": "application/json", **spec.extra_headers}
    if key:
        headers["authorization"] = f"Bearer {key}"
    return headers


class OpenAIProvider:
    name = "openai"

    async def stream(
        self, spec: ModelSpec, request: ChatRequest, client: httpx.AsyncClient
    ) -> AsyncIterator[Delta]:
        key = api_key_for(spec)
        body = request_body(spec, request, stream=True)
        async with open_stream(
            client, chat_url(spec.endpoint), _headers(spec, key), body
        ) as response:
            await _raise_for_status(response, key)
            done = False
            events = sse_events(response)
            async for _event, data in events:
                if data.strip() == "[DONE]":
                    done = True
                    await drain(events)
                    break
                chunk = parse_json(data)
                if isinstance(chunk, dict) and chunk.get("error"):
                    raise error_from_body(500, chunk, {}, key)
                delta = parse_chunk(chunk) if isinstance(chunk, dict) else None
                if delta is not None:
                    yield delta
            if not done:
                raise ProviderError(FailureClass.STREAM, "the upstream stream ended before [DONE]")

    async def complete(
        self, spec: ModelSpec, request: ChatRequest, client: httpx.AsyncClient
    ) -> Delta:
        key = api_key_for(spec)
        body = request_body(spec, request, stream=False)
        async with open_stream(
            client, chat_url(spec.endpoint), _headers(spec, key), body
        ) as response:
            await _raise_for_status(response, key)
            raw = await read_body(response)
        data = parse_json(raw.decode("utf-8", "replace"))
        if not isinstance(data, dict):
            raise ProviderError(FailureClass.STREAM, "the upstream sent a malformed completion")
        return parse_completion(data)


__all__ = ["OpenAIProvider", "chat_url", "parse_chunk", "parse_completion", "request_body"]
