"""The openai provider against a fake OpenAI server speaking the real wire format."""

from __future__ import annotations

import httpx
import pytest
from ember.ai.assembler import Assembler
from ember.ai.providers.base import ChatRequest, FailureClass, ProviderError
from ember.ai.providers.openai import OpenAIProvider, chat_url
from ember.ai.router import ModelSpec
from fake_llm import FakeLLM, Reply, openai_error, transcript

KEY = "sk-test-0123456789abcdef"


def spec(
    fake: FakeLLM, name: str = "gpt-test", key_env: str | None = "FAKE_OPENAI_KEY"
) -> ModelSpec:
    return ModelSpec(
        name, "openai", endpoint=fake.base_url + "/v1", api_key_env=key_env, supports_tools=True
    )


async def run(fake: FakeLLM, model: ModelSpec, request: ChatRequest | None = None) -> Assembler:
    request = request or ChatRequest([{"role": "user", "content": "hi"}])
    assembler = Assembler()
    async with httpx.AsyncClient(timeout=2.0) as client:
        async for delta in OpenAIProvider().stream(model, request, client):
            assembler.add(delta)
    return assembler


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_OPENAI_KEY", KEY)


async def test_text_stream_is_assembled_with_exact_usage(fake_llm: FakeLLM) -> None:
    fake_llm.script("gpt-test", Reply(events=transcript("openai/text.sse")))
    result = await run(fake_llm, spec(fake_llm))
    assert result.text == "Hello there! How can I help?"
    assert result.finish_reason == "stop"
    assert result.usage is not None and (
        result.usage.prompt_tokens,
        result.usage.completion_tokens,
    ) == (12, 9)


async def test_include_usage_is_always_asked_upstream(fake_llm: FakeLLM) -> None:
    fake_llm.script("gpt-test", Reply(events=transcript("openai/text.sse")))
    await run(fake_llm, spec(fake_llm))
    body = fake_llm.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert fake_llm.requests[0].path == "/v1/chat/completions"


async def test_key_is_sent_as_bearer_from_the_environment(fake_llm: FakeLLM) -> None:
    fake_llm.script("gpt-test", Reply(events=transcript("openai/text.sse")))
    await run(fake_llm, spec(fake_llm))
    assert fake_llm.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_compatible_server_without_key_gets_no_authorization(fake_llm: FakeLLM) -> None:
    fake_llm.script("gpt-test", Reply(events=transcript("openai/text.sse")))
    await run(fake_llm, spec(fake_llm, key_env=None))
    assert "authorization" not in fake_llm.requests[0].headers


async def test_missing_key_fails_as_auth_without_calling(
    fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAKE_OPENAI_KEY")
    with pytest.raises(ProviderError) as info:
        await run(fake_llm, spec(fake_llm))
    assert info.value.failure is FailureClass.AUTH
    assert "FAKE_OPENAI_KEY" in info.value.message
    assert fake_llm.requests == []


async def test_parallel_tool_call_deltas_become_two_calls(fake_llm: FakeLLM) -> None:
    fake_llm.script("gpt-test", Reply(events=transcript("openai/parallel_tool_calls.sse")))
    result = await run(fake_llm, spec(fake_llm))
    calls = result.tool_calls()
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_Wq1", "get_weather", {"city": "Paris"}),
        ("call_Xr2", "get_time", {"tz": "Europe/Paris"}),
    ]
    assert result.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("reply", "failure"),
    [
        (
            openai_error(
                429, "Rate limit reached", "rate_limit_exceeded", "tokens", {"retry-after": "7"}
            ),
            FailureClass.RATE_LIMIT,
        ),
        (
            openai_error(500, "The server had an error", "server_error", "server_error"),
            FailureClass.SERVER,
        ),
        (
            openai_error(
                400,
                "This model's maximum context length is 8192 tokens.",
                "context_length_exceeded",
            ),
            FailureClass.CONTEXT_LENGTH,
        ),
        (
            openai_error(
                400, "Your request was rejected by our safety system.", "content_policy_violation"
            ),
            FailureClass.CONTENT_POLICY,
        ),
        (
            openai_error(401, f"Incorrect API key provided: {KEY}.", "invalid_api_key"),
            FailureClass.AUTH,
        ),
        (
            openai_error(400, "Unknown parameter: 'foo'.", "unknown_parameter"),
            FailureClass.BAD_REQUEST,
        ),
    ],
)
async def test_error_statuses_are_classified(
    fake_llm: FakeLLM, reply: Reply, failure: FailureClass
) -> None:
    fake_llm.script("gpt-test", reply)
    with pytest.raises(ProviderError) as info:
        await run(fake_llm, spec(fake_llm))
    assert info.value.failure is failure
    assert KEY not in info.value.message


async def test_retry_after_is_read(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        "gpt-test",
        openai_error(429, "slow down", "rate_limit_exceeded", "requests", {"retry-after": "7"}),
    )
    with pytest.raises(ProviderError) as info:
        await run(fake_llm, spec(fake_llm))
    assert info.value.retry_after == 7.0


async def test_malformed_sse_line_is_a_stream_error(fake_llm: FakeLLM) -> None:
    events = transcript("openai/text.sse")
    events.insert(3, b'data: {"choices": [{"delta": \n\n')
    fake_llm.script("gpt-test", Reply(events=events))
    with pytest.raises(ProviderError) as info:
        await run(fake_llm, spec(fake_llm))
    assert info.value.failure is FailureClass.STREAM


async def test_connection_cut_mid_stream_is_a_stream_error(fake_llm: FakeLLM) -> None:
    fake_llm.script("gpt-test", Reply(events=transcript("openai/text.sse"), cut_after=4))
    with pytest.raises(ProviderError) as info:
        await run(fake_llm, spec(fake_llm))
    assert info.value.failure is FailureClass.STREAM


async def test_stream_ending_without_done_is_a_stream_error(fake_llm: FakeLLM) -> None:
    fake_llm.script("gpt-test", Reply(events=transcript("openai/text.sse")[:4]))
    with pytest.raises(ProviderError) as info:
        await run(fake_llm, spec(fake_llm))
    assert info.value.failure is FailureClass.STREAM


async def test_stall_past_the_read_timeout_is_a_timeout(fake_llm: FakeLLM) -> None:
    fake_llm.script("gpt-test", Reply(events=transcript("openai/text.sse"), stall_after=2, stall=3))
    with pytest.raises(ProviderError) as info:
        request = ChatRequest([{"role": "user", "content": "hi"}])
        async with httpx.AsyncClient(timeout=0.3) as client:
            async for _ in OpenAIProvider().stream(spec(fake_llm), request, client):
                pass
    assert info.value.failure is FailureClass.TIMEOUT


async def test_non_stream_completion(fake_llm: FakeLLM) -> None:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-test",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"a": 1}'},
                        }
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    import json

    fake_llm.script("gpt-test", Reply(body=json.dumps(body).encode()))
    async with httpx.AsyncClient() as client:
        delta = await OpenAIProvider().complete(
            spec(fake_llm), ChatRequest([{"role": "user", "content": "x"}]), client
        )
    assert "stream" not in fake_llm.requests[0].body
    assert delta.tool_calls[0].name == "f" and delta.tool_calls[0].arguments == '{"a": 1}'
    assert delta.usage is not None and delta.usage.total_tokens == 8


def test_endpoint_may_be_a_base_url_or_the_full_url() -> None:
    assert chat_url("http://h:1/v1") == "http://h:1/v1/chat/completions"
    assert chat_url("https://api.openai.com/v1/chat/completions") == (
        "https://api.openai.com/v1/chat/completions"
    )


def test_official_api_gets_max_completion_tokens_and_compatible_servers_max_tokens() -> None:
    from ember.ai.providers.openai import request_body

    request = ChatRequest([{"role": "user", "content": "x"}], max_tokens=50)
    official = ModelSpec("gpt-4o-mini", "openai")
    compatible = ModelSpec("llama", "openai", endpoint="http://127.0.0.1:11434/v1")
    assert request_body(official, request, stream=True)["max_completion_tokens"] == 50
    assert request_body(compatible, request, stream=True)["max_tokens"] == 50


async def test_a_streamed_refusal_is_kept_apart_from_the_text(fake_llm: FakeLLM) -> None:
    fake_llm.script("gpt-test", Reply(events=transcript("openai/refusal.sse")))
    result = await run(fake_llm, spec(fake_llm))
    assert result.refusal == "I'm sorry, I can't help with that request."
    assert result.text == "" and result.finish_reason == "stop"


async def test_a_non_streamed_refusal_is_read(fake_llm: FakeLLM) -> None:
    import json

    message = {"role": "assistant", "content": None, "refusal": "I can't do that."}
    body = {
        "id": "chatcmpl-2",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-test",
        "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
    }
    fake_llm.script("gpt-test", Reply(body=json.dumps(body).encode()))
    async with httpx.AsyncClient() as client:
        delta = await OpenAIProvider().complete(
            spec(fake_llm), ChatRequest([{"role": "user", "content": "x"}]), client
        )
    assert delta.refusal == "I can't do that." and delta.text == ""
    assert delta.has_content
