"""The embedded local provider: offline, deterministic, streaming, tool-calling."""

from __future__ import annotations

import httpx
from ember.ai.assembler import Assembler
from ember.ai.providers.base import ChatRequest
from ember.ai.providers.local import LocalProvider
from ember.ai.router import ModelSpec

SPEC = ModelSpec("local-echo", "local", supports_tools=True)
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]


async def run(request: ChatRequest, spec: ModelSpec = SPEC) -> tuple[Assembler, int]:
    assembler = Assembler()
    deltas = 0
    async with httpx.AsyncClient() as client:
        async for delta in LocalProvider().stream(spec, request, client):
            assembler.add(delta)
            deltas += 1
    return assembler, deltas


async def test_answers_deterministically_one_word_at_a_time() -> None:
    request = ChatRequest([{"role": "user", "content": "What is Ember?"}])
    first, count = await run(request)
    second, _ = await run(request)
    assert first.text == second.text == "You said: What is Ember?"
    assert count >= 4  # several text deltas, then finish and usage


async def test_reports_usage() -> None:
    result, _ = await run(ChatRequest([{"role": "user", "content": "hello"}]))
    assert result.usage is not None
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0


async def test_calls_a_tool_the_user_names_with_json_arguments() -> None:
    request = ChatRequest(
        [{"role": "user", "content": 'use get_weather {"city": "Paris"}'}], tools=TOOLS
    )
    result, _ = await run(request)
    [call] = result.tool_calls()
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    assert result.finish_reason == "tool_calls"


async def test_answers_from_tool_results() -> None:
    request = ChatRequest(
        [
            {"role": "user", "content": "get_weather please"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
        tools=TOOLS,
    )
    result, _ = await run(request)
    assert result.text == "get_weather returned: sunny" and not result.tool_calls()


async def test_stops_at_max_tokens_with_finish_reason_length() -> None:
    result, _ = await run(
        ChatRequest(
            [{"role": "user", "content": "one two three four five six seven"}], max_tokens=3
        )
    )
    assert result.finish_reason == "length"
    assert result.usage is not None and result.usage.completion_tokens <= 3
