"""An OpenAI-compatible gateway in front of a ``ModelRouter``.

``add_openai_routes(app, router)`` serves ``POST /v1/chat/completions``
(streamed and not, tools, usage) and ``GET /v1/models``, so the official
``openai`` client, and anything built on it, works unchanged::

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")

The request's ``model`` picks a ``ModelSpec`` by name (that model only), or,
when it is ``"auto"`` or absent, lets the router's strategy choose with
fallback. Whatever the providers behind it (OpenAI, Anthropic, local), the
answer is in the OpenAI shape; errors are in the OpenAI envelope.

A stream's status and headers wait for the first content token (the router's
commit point), so a model that fails first is replaced unseen; a failure
after that arrives as a ``data: {"error": ...}`` event.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
from ember.errors import HTTPError
from ember.requests import Request
from ember.responses import JSONResponse, Response
from ember.sse import SSEResponse

from .openai_requests import check_chat_request, positive_int
from .providers.base import Delta, Usage
from .router import ModelRouter, RoutedStream, StreamInterrupted

if TYPE_CHECKING:
    from ember.app import Ember

# `model` values that ask the router's strategy to choose.
AUTO_MODELS = frozenset({"", "auto", "ember-router"})

# Body fields the gateway handles itself; every other field is passed upstream.
_OWN_FIELDS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "max_tokens",
        "max_completion_tokens",
        "n",
    }
)


def add_openai_routes(
    app: Ember, router: ModelRouter | None = None, *, prefix: str = "/v1"
) -> None:
    """Serve the OpenAI Chat Completions API from ``app``, backed by ``router``
    (default: the app's ``Ember(model_router=...)``)."""
    chosen = router or app.options.get("model_router")
    if not isinstance(chosen, ModelRouter):
        raise TypeError("add_openai_routes needs a ModelRouter: pass one or Ember(model_router=)")
    gateway = _Gateway(chosen)
    if chosen is not app.options.get("model_router"):  # (the app's own is closed by ember-ai)
        app.on_shutdown(chosen.aclose)
    app.add_route(
        f"{prefix}/chat/completions",
        gateway.chat_completions,
        ["POST"],
        name="openai_chat_completions",
    )
    app.add_route(f"{prefix}/models", gateway.models, ["GET"], name="openai_models")


def openai_gateway(router: ModelRouter, **options: Any) -> Ember:
    """A ready Ember app serving only the OpenAI-compatible API."""
    from ember.app import Ember

    app = Ember(**options)
    add_openai_routes(app, router)
    return app


class _Gateway:
    def __init__(self, router: ModelRouter) -> None:
        self.router = router

    async def models(self, request: Request) -> Response:
        data = [
            {"id": m.name, "object": "model", "created": 0, "owned_by": m.provider}
            for m in self.router.models
        ]
        return JSONResponse({"object": "list", "data": data})

    async def chat_completions(self, request: Request) -> Response:
        started = request.scope.get("ember.received_at") or time.perf_counter()
        body = check_chat_request(await request.json())
        name = body.get("model") or ""
        model = None if name in AUTO_MODELS else name
        if model is not None and self.router.model(model) is None:
            raise HTTPError(
                404, f"The model '{model}' does not exist.", code="model_not_found", param="model"
            )
        max_tokens = positive_int(body, "max_completion_tokens") or positive_int(body, "max_tokens")
        params = {k: v for k, v in body.items() if k not in _OWN_FIELDS}
        call: dict[str, Any] = {
            "tools": body.get("tools") or None,
            "tool_choice": body.get("tool_choice"),
            "max_tokens": max_tokens,
            "model": model,
            "fallback": model is None,
            "request": request,
            "started_at": started,
            **params,
        }
        if body.get("stream"):
            options = body.get("stream_options") or {}
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            routed = await self.router.stream(body["messages"], **call)
            return SSEResponse(_chunks(routed, include_usage), headers=routed.headers())
        result = await self.router.complete(body["messages"], **call)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": result.text,
            "refusal": result.refusal or None,
        }
        if result.tool_calls or result.refusal:
            message["content"] = result.text or None
        if result.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments_json()},
                }
                for c in result.tool_calls
            ]
        completion = {
            "id": _completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": result.model.name,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": result.finish_reason,
                }
            ],
            "usage": _usage(result.usage),
        }
        return JSONResponse(completion, headers=result.route.headers())


def _completion_id() -> str:
    return "chatcmpl-" + secrets.token_urlsafe(18)


def _usage(usage: Usage | None) -> dict[str, int] | None:
    return usage.to_openai() if usage is not None else None


async def _chunks(routed: RoutedStream, include_usage: bool) -> AsyncIterator[bytes]:
    """The routed deltas as ``chat.completion.chunk`` events."""
    assert routed.model is not None
    head = {
        "id": _completion_id(),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": routed.model.name,
    }

    def event(choices: list[Any], usage: Any = None) -> bytes:
        chunk = {**head, "choices": choices}
        if include_usage:
            chunk["usage"] = usage
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def choice(delta: dict[str, Any], finish: str | None = None) -> list[Any]:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

    try:
        yield event(choice({"role": "assistant", "content": ""}))
        usage = None
        flushed = False
        async for delta in routed:
            if delta.has_content:
                yield event(choice(_delta_dict(delta)))
                if not flushed:
                    # Let the writer send the first token now: an upstream whose
                    # chunks are already buffered would otherwise be read to the
                    # end before anything reaches the client.
                    flushed = True
                    await asyncio.sleep(0)
            if delta.finish_reason:
                yield event(choice({}, delta.finish_reason))
            if delta.usage is not None:
                usage = delta.usage
        if include_usage and usage is not None:
            yield event([], usage.to_openai())
    except StreamInterrupted as stopped:
        # Past the commit point: the client already has a 200 and some text,
        # so the failure is told in the stream, in the API's own error shape.
        error = {
            "error": {
                "message": f"The model stream failed: {stopped.error.message}",
                "type": "server_error",
                "param": None,
                "code": stopped.error.failure.value,
            }
        }
        yield b"data: " + orjson.dumps(error) + b"\n\n"
    finally:
        await routed.aclose()
    yield b"data: [DONE]\n\n"


def _delta_dict(delta: Delta) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if delta.text:
        out["content"] = delta.text
    if delta.refusal:
        out["refusal"] = delta.refusal
    if delta.tool_calls:
        calls = []
        for call in delta.tool_calls:
            entry: dict[str, Any] = {"index": call.index}
            function: dict[str, Any] = {"arguments": call.arguments}
            if call.id:
                entry["id"] = call.id
                entry["type"] = "function"
            if call.name:
                function["name"] = call.name
            entry["function"] = function
            calls.append(entry)
        out["tool_calls"] = calls
    return out


__all__ = ["AUTO_MODELS", "add_openai_routes", "openai_gateway"]
