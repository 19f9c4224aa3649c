"""The anthropic provider replaying recorded Messages API streams from a fake server."""

from __future__ import annotations

import httpx
import pytest
from ember.ai.assembler import Assembler
from ember.ai.providers.anthropic import AnthropicProvider, messages_url
from ember.ai.providers.base import ChatRequest, FailureClass, ProviderError
from ember.ai.router import ModelSpec
from fake_llm import FakeLLM, Reply, anthropic_error, transcript

KEY = "sk-ant-test-abcdef0123456789"


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_ANTHROPIC_KEY", KEY)


def spec(fake: FakeLLM) -> ModelSpec:
    return ModelSpec(
        "claude-test",
        "anthropic",
        endpoint=fake.base_url,
        api_key_env="FAKE_ANTHROPIC_KEY",
        max_tokens=1024,
        supports_tools=True,
    )


async def run(fake: FakeLLM, request: ChatRequest | None = None) -> Assembler:
    request = request or ChatRequest([{"role": "user", "content": "hi"}])
    assembler = Assembler()
    async with httpx.AsyncClient(timeout=2.0) as client:
        async for delta in AnthropicProvider().stream(spec(fake), request, client):
            assembler.add(delta)
    return assembler


async def test_text_stream_with_cumulative_usage(fake_llm: FakeLLM) -> None:
    fake_llm.script("claude-test", Reply(events=transcript("anthropic/basic_response.sse")))
    result = await run(fake_llm)
    assert result.text == "Hello there!"
    assert result.finish_reason == "stop"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (11, 6)


async def test_tool_use_input_json_deltas_become_one_call(fake_llm: FakeLLM) -> None:
    fake_llm.script("claude-test", Reply(events=transcript("anthropic/tool_use_response.sse")))
    result = await run(fake_llm)
    assert result.text == "I'll check the current weather in Paris for you."
    [call] = result.tool_calls()
    assert (call.id, call.name, call.arguments) == (
        "toolu_01NRLabsLyVHZPKxbKvkfSMn",
        "get_weather",
        {"location": "Paris"},
    )
    assert result.finish_reason == "tool_calls"


async def test_incomplete_tool_input_stays_a_string(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        "claude-test", Reply(events=transcript("anthropic/incomplete_partial_json_response.sse"))
    )
    result = await run(fake_llm)
    [call] = result.tool_calls()
    assert call.name == "make_file"
    assert isinstance(call.arguments, str) and call.arguments.startswith('{"filename": "taxes.txt"')
    assert result.finish_reason == "length"


async def test_refusal_finishes_with_content_filter(fake_llm: FakeLLM) -> None:
    fake_llm.script("claude-test", Reply(events=transcript("anthropic/refusal_response.sse")))
    result = await run(fake_llm)
    assert result.text == "" and result.finish_reason == "content_filter"


async def test_request_is_translated_to_the_messages_api(fake_llm: FakeLLM) -> None:
    fake_llm.script("claude-test", Reply(events=transcript("anthropic/basic_response.sse")))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    await run(
        fake_llm,
        ChatRequest(
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather?"}],
            tools=tools,
            tool_choice="required",
            params={"temperature": 0.2, "stop": "END"},
        ),
    )
    recorded = fake_llm.requests[0]
    assert recorded.path == "/v1/messages"
    assert recorded.headers["x-api-key"] == KEY
    assert recorded.headers["anthropic-version"] == "2023-06-01"
    body = recorded.body
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Weather?"}]}]
    assert body["max_tokens"] == 1024 and body["stream"] is True
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert body["tool_choice"] == {"type": "any"}
    assert body["temperature"] == 0.2 and body["stop_sequences"] == ["END"]


@pytest.mark.parametrize(
    ("reply", "failure"),
    [
        (
            anthropic_error(
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
                {"retry-after": "12"},
            ),
            FailureClass.RATE_LIMIT,
        ),
        (anthropic_error(529, "overloaded_error", "Overloaded"), FailureClass.SERVER),
        (
            anthropic_error(
                400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"
            ),
            FailureClass.CONTEXT_LENGTH,
        ),
        (anthropic_error(401, "authentication_error", "invalid x-api-key"), FailureClass.AUTH),
    ],
)
async def test_error_responses_are_classified(
    fake_llm: FakeLLM, reply: Reply, failure: FailureClass
) -> None:
    fake_llm.script("claude-test", reply)
    with pytest.raises(ProviderError) as info:
        await run(fake_llm)
    assert info.value.failure is failure


async def test_error_event_mid_stream_raises(fake_llm: FakeLLM) -> None:
    events = transcript("anthropic/basic_response.sse")[:4]
    events.append(
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
        b'"message": "Overloaded"}}\n\n'
    )
    fake_llm.script("claude-test", Reply(events=events))
    with pytest.raises(ProviderError) as info:
        await run(fake_llm)
    assert info.value.failure is FailureClass.SERVER


def test_endpoint_forms() -> None:
    assert messages_url("https://api.anthropic.com/v1/messages") == (
        "https://api.anthropic.com/v1/messages"
    )
    assert messages_url("http://h:1") == "http://h:1/v1/messages"
    assert messages_url("http://h:1/v1") == "http://h:1/v1/messages"
