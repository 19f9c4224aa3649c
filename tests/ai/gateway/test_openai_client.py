"""The official ``openai`` client, unchanged, against Ember's gateway.

The gateway runs under uvicorn in a child process, in front of a fake
upstream (OpenAI and Anthropic wire formats) running in this process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from fake_llm import FakeLLM, Reply, anthropic_error, openai_error, transcript
from servers import uvicorn_server

KEY = "sk-gateway-secret-0123456789"
HELLO = [{"role": "user", "content": "hello"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeLLM]:
    fake = FakeLLM().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module", params=["httpx", "aiohttp"])
def gateway(upstream: FakeLLM, request: pytest.FixtureRequest) -> Iterator[str]:
    """The gateway with httpx's default transport, then with ember-ai[aiohttp]'s."""
    from pathlib import Path

    env = {
        "FAKE_LLM_URL": upstream.base_url,
        "FAKE_GATEWAY_KEY": KEY,
        "GATEWAY_TRANSPORT": request.param,
    }
    with uvicorn_server("gateway_app:app", app_dir=Path(__file__).parent, env=env) as url:
        yield url


@pytest.fixture
def fake(upstream: FakeLLM) -> FakeLLM:
    upstream.scripts.clear()
    upstream.requests.clear()
    upstream.disconnects.clear()
    return upstream


@pytest.fixture
def client(gateway: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=gateway + "/v1", api_key="client-key", max_retries=0, timeout=10
    ) as client:
        yield client


def completion_body(text: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-up",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-fake",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text},
                }
            ],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
        }
    ).encode()


def test_non_stream_completion_with_usage(fake: FakeLLM, client: openai.OpenAI) -> None:
    fake.script("gpt-fake", Reply(body=completion_body("Hi there")))
    result = client.chat.completions.create(model="gpt-fake", messages=HELLO)  # type: ignore[arg-type]
    assert result.choices[0].message.content == "Hi there"
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None and result.usage.total_tokens == 9
    assert result.model == "gpt-fake"


def test_every_response_says_how_it_was_routed(fake: FakeLLM, client: openai.OpenAI) -> None:
    fake.script("gpt-fake", Reply(body=completion_body("Hi")))
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)  # type: ignore[arg-type]
    assert raw.headers["x-ember-route-strategy"] == "fallback"
    assert raw.headers["x-ember-route-model"] == "gpt-fake"
    assert raw.headers["x-ember-route-attempts"] == "1"
    assert float(raw.headers["x-ember-overhead-ms"]) >= 0


def test_stream_with_usage_when_asked(fake: FakeLLM, client: openai.OpenAI) -> None:
    fake.script("gpt-fake", Reply(events=transcript("openai/text.sse")))
    stream = client.chat.completions.create(
        model="gpt-fake",
        messages=HELLO,
        stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello there! How can I help?"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (12, 9)


def test_usage_is_asked_upstream_but_stripped_for_a_client_that_did_not_ask(
    fake: FakeLLM, client: openai.OpenAI
) -> None:
    fake.script("gpt-fake", Reply(events=transcript("openai/text.sse")))
    chunks = list(client.chat.completions.create(model="gpt-fake", messages=HELLO, stream=True))  # type: ignore[arg-type]
    assert fake.requests[0].body["stream_options"] == {"include_usage": True}
    assert all(c.usage is None and c.choices for c in chunks)


def test_a_refusal_reaches_the_client_as_refusal_not_content(
    fake: FakeLLM, client: openai.OpenAI
) -> None:
    fake.script("gpt-fake", Reply(events=transcript("openai/refusal.sse")))
    chunks = list(client.chat.completions.create(model="gpt-fake", messages=HELLO, stream=True))  # type: ignore[arg-type]
    refusal = "".join(c.choices[0].delta.refusal or "" for c in chunks if c.choices)
    assert refusal == "I'm sorry, I can't help with that request."
    assert all(not c.choices[0].delta.content for c in chunks if c.choices)


def test_a_non_streamed_refusal_reaches_the_client(fake: FakeLLM, client: openai.OpenAI) -> None:
    body = json.loads(completion_body(""))
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "refusal": "No."}
    fake.script("gpt-fake", Reply(body=json.dumps(body).encode()))
    message = client.chat.completions.create(model="gpt-fake", messages=HELLO).choices[0].message  # type: ignore[arg-type]
    assert message.refusal == "No." and message.content is None


def test_streamed_parallel_tool_calls(fake: FakeLLM, client: openai.OpenAI) -> None:
    fake.script("gpt-fake", Reply(events=transcript("openai/parallel_tool_calls.sse")))
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in client.chat.completions.create(
        model="gpt-fake", messages=HELLO, tools=TOOLS, stream=True
    ):  # type: ignore[arg-type]
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or ():
                entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += call.id or ""
                assert call.function is not None
                entry["name"] += call.function.name or ""
                entry["arguments"] += call.function.arguments or ""
    assert finish == "tool_calls"
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("call_Wq1", "get_weather", {"city": "Paris"}),
        ("call_Xr2", "get_time", {"tz": "Europe/Paris"}),
    ]
    assert fake.requests[0].body["tools"] == TOOLS


def test_anthropic_tool_use_comes_back_as_openai_tool_calls(
    fake: FakeLLM, client: openai.OpenAI
) -> None:
    fake.script("claude-fake", Reply(events=transcript("anthropic/tool_use_response.sse")))
    result = client.chat.completions.create(model="claude-fake", messages=HELLO, tools=TOOLS)  # type: ignore[arg-type]
    message = result.choices[0].message
    assert message.content == "I'll check the current weather in Paris for you."
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"location": "Paris"}  # type: ignore[union-attr]
    assert result.choices[0].finish_reason == "tool_calls"
    assert result.usage is not None and result.usage.prompt_tokens == 377


def test_auto_model_falls_back_unseen(fake: FakeLLM, client: openai.OpenAI) -> None:
    fake.script(
        "gpt-fake",
        openai_error(
            429, "Rate limit reached", "rate_limit_exceeded", "tokens", {"retry-after": "0"}
        ),
    )
    fake.script("claude-fake", Reply(events=transcript("anthropic/basic_response.sse")))
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=HELLO, stream=True
    )  # type: ignore[arg-type]
    assert raw.http_response.status_code == 200
    assert raw.headers["x-ember-route-model"] == "claude-fake"
    assert raw.headers["x-ember-route-failures"] == "gpt-fake=rate_limit"
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "Hello there!"


def test_a_named_model_is_the_only_candidate(fake: FakeLLM, client: openai.OpenAI) -> None:
    fake.script("gpt-fake", openai_error(500, "boom", "server_error", "server_error"))
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gpt-fake", messages=HELLO)  # type: ignore[arg-type]
    assert info.value.status_code == 503
    assert fake.requests_for("claude-fake") == []


def test_all_failing_is_a_503_naming_the_classes_without_keys(
    fake: FakeLLM, client: openai.OpenAI
) -> None:
    fake.script("gpt-fake", openai_error(429, f"limited (key {KEY})", "rate_limit_exceeded"))
    fake.script("claude-fake", anthropic_error(529, "overloaded_error", "Overloaded"))
    # Too long for local-echo's small window, so only the two upstream models are tried.
    long_prompt = [{"role": "user", "content": "word " * 100}]
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="auto", messages=long_prompt)  # type: ignore[arg-type]
    error = info.value
    assert error.status_code == 503 and error.code == "all_models_failed"
    assert "rate_limit" in error.message and "server_error" in error.message
    assert error.response.headers["x-ember-route-skipped"] == "local-echo=context_window"
    assert error.response.headers["x-ember-route-failures"] == (
        "gpt-fake=rate_limit,claude-fake=server_error"
    )
    assert KEY not in error.response.text and KEY not in str(error.response.headers)


def test_unknown_model_is_a_404_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=HELLO)  # type: ignore[arg-type]
    assert info.value.code == "model_not_found"


def test_bad_input_is_a_400_in_the_openai_envelope(gateway: str) -> None:
    response = httpx.post(gateway + "/v1/chat/completions", json={"model": "auto"}, timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "messages" and error["type"] == "invalid_request_error"


def test_failure_after_the_first_token_arrives_in_the_stream(
    fake: FakeLLM, client: openai.OpenAI
) -> None:
    fake.script("gpt-fake", Reply(events=transcript("openai/text.sse"), cut_after=4))
    stream = client.chat.completions.create(model="gpt-fake", messages=HELLO, stream=True)  # type: ignore[arg-type]
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Hello there!"
    assert "stream" in str(info.value.message)


def test_client_disconnect_closes_the_upstream_request(fake: FakeLLM, gateway: str) -> None:
    fake.script("gpt-fake", Reply(events=transcript("openai/text.sse"), event_delay=0.3))
    with httpx.stream(
        "POST",
        gateway + "/v1/chat/completions",
        timeout=10,
        json={"model": "gpt-fake", "messages": HELLO, "stream": True},
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if "Hello" in line:
                break
    assert fake.wait_for_disconnect(5)
    assert fake.disconnects == ["gpt-fake"]


def test_models_lists_the_router_models(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["gpt-fake", "claude-fake", "local-echo"]


def test_the_local_model_answers_offline(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="local-echo", messages=HELLO, stream=True)  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == (
        "You said: hello"
    )


def test_status_waits_for_the_first_token(fake: FakeLLM, gateway: str) -> None:
    # The upstream takes 0.5 s to its first token: the gateway's headers come no sooner.
    fake.script("gpt-fake", Reply(events=transcript("openai/text.sse"), stall_after=1, stall=0.5))
    began = time.monotonic()
    with httpx.stream(
        "POST",
        gateway + "/v1/chat/completions",
        timeout=10,
        json={"model": "gpt-fake", "messages": HELLO, "stream": True},
    ) as response:
        waited = time.monotonic() - began
        response.read()
    assert waited >= 0.5
