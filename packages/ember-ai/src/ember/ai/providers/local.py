"""The embedded ``local`` provider: a deterministic model that needs no key or network.

It exists so every example, test and demo runs offline. Its rules:

- after tool results, it answers ``"<tool> returned: <result>"`` for each;
- when tools are offered and the last user message names one, it calls it,
  with the first JSON object in the message as arguments (``{}`` if none);
- otherwise it answers ``"You said: <last user message>"``.

The reply streams one word at a time (``token_delay`` seconds apart), stops at
``max_tokens`` with finish reason ``length``, and reports usage counted with
the same tokenizer as the rest of Ember.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..tokens import count_text
from .base import ChatRequest, Delta, ToolCallDelta, Usage

if TYPE_CHECKING:
    import httpx

    from ..router import ModelSpec

_WORDS = re.compile(r"\S+\s*|\s+")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _json_object(text: str) -> dict[str, Any]:
    start = text.find("{")
    while start != -1:
        try:
            value, _ = json.JSONDecoder().raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return {}


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return 3 + sum(4 + count_text(_text(m.get("content"))) for m in messages)


def plan_reply(request: ChatRequest) -> tuple[str, dict[str, Any] | None]:
    """``(text, tool_call)``: what the local model answers to ``request``."""
    messages = request.messages
    results: list[dict[str, Any]] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.insert(0, message)
    if results:
        names = {
            call.get("id"): (call.get("function") or {}).get("name", "tool")
            for m in messages
            if m.get("role") == "assistant"
            for call in m.get("tool_calls") or ()
        }
        lines = [
            f"{names.get(r.get('tool_call_id'), 'tool')} returned: {_text(r.get('content'))}"
            for r in results
        ]
        return "\n".join(lines), None
    last_user = next(
        (_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    if request.tools and request.tool_choice != "none":
        for tool in request.tools:
            name = (tool.get("function") or tool).get("name", "")
            if name and re.search(rf"\b{re.escape(name)}\b", last_user):
                return "", {"name": name, "arguments": _json_object(last_user)}
    return f"You said: {last_user}", None


class LocalProvider:
    name = "local"

    def __init__(self, token_delay: float = 0.0) -> None:
        self.token_delay = token_delay

    async def stream(
        self, spec: ModelSpec, request: ChatRequest, client: httpx.AsyncClient
    ) -> AsyncIterator[Delta]:
        text, call = plan_reply(request)
        prompt = prompt_tokens(request.messages)
        if call is not None:
            arguments = json.dumps(call["arguments"])
            call_id = "call_" + uuid.uuid5(uuid.NAMESPACE_URL, arguments + call["name"]).hex[:24]
            yield Delta(tool_calls=(ToolCallDelta(0, id=call_id, name=call["name"]),))
            yield Delta(tool_calls=(ToolCallDelta(0, arguments=arguments),))
            yield Delta(finish_reason="tool_calls")
            yield Delta(usage=Usage(prompt, count_text(call["name"] + arguments)))
            return
        limit = request.max_tokens or spec.max_tokens
        used = 0
        finish = "stop"
        for word in _WORDS.findall(text):
            cost = count_text(word)
            if used + cost > limit:
                finish = "length"
                break
            used += cost
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            else:
                await asyncio.sleep(0)  # a real await, like a network read
            yield Delta(text=word)
        yield Delta(finish_reason=finish)
        yield Delta(usage=Usage(prompt, used))


__all__ = ["LocalProvider", "plan_reply"]
