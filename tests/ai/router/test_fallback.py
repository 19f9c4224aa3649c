"""Calling through the router: fallback before the commit point, never after it."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest
from ember import HTTPError
from ember.ai.providers.base import FailureClass
from ember.ai.router import ModelRouter, ModelSpec, RoutingStrategy, StreamInterrupted
from fake_llm import FakeLLM, Reply, anthropic_error, openai_error, transcript

HELLO = [{"role": "user", "content": "hello"}]
KEY = "sk-fallback-test-secret-1234"


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", KEY)


def openai(fake: FakeLLM, name: str) -> ModelSpec:
    return ModelSpec(name, "openai", endpoint=fake.base_url + "/v1", api_key_env="FAKE_KEY")


def anthropic(fake: FakeLLM, name: str) -> ModelSpec:
    return ModelSpec(name, "anthropic", endpoint=fake.base_url, api_key_env="FAKE_KEY")


def text(fake: FakeLLM, name: str, **kwargs: object) -> Reply:
    return Reply(events=transcript("openai/text.sse"), **kwargs)  # type: ignore[arg-type]


async def read_all(router: ModelRouter, **kwargs: object) -> tuple[str, object]:
    stream = await router.stream(HELLO, **kwargs)  # type: ignore[arg-type]
    chunks = [d.text async for d in stream]
    return "".join(chunks), stream


@pytest.mark.parametrize(
    ("failure", "reply"),
    [
        (
            "rate_limit",
            openai_error(
                429, "Rate limit reached", "rate_limit_exceeded", "tokens", {"retry-after": "20"}
            ),
        ),
        (
            "server_error",
            openai_error(500, "The server had an error", "server_error", "server_error"),
        ),
        (
            "context_length",
            openai_error(400, "maximum context length is 10 tokens", "context_length_exceeded"),
        ),
        ("content_policy", openai_error(400, "rejected", "content_policy_violation")),
    ],
)
async def test_failure_before_the_first_token_falls_back(
    fake_llm: FakeLLM, failure: str, reply: Reply
) -> None:
    fake_llm.script("first", reply)
    fake_llm.script("second", text(fake_llm, "second"))
    router = ModelRouter([openai(fake_llm, "first"), openai(fake_llm, "second")])
    answer, stream = await read_all(router)
    assert answer == "Hello there! How can I help?"
    headers = stream.headers()  # type: ignore[attr-defined]
    assert headers["x-ember-route-model"] == "second"
    assert headers["x-ember-route-attempts"] == "2"
    assert headers["x-ember-route-failures"] == f"first={failure}"
    await router.aclose()


async def test_connect_error_falls_back(fake_llm: FakeLLM) -> None:
    fake_llm.script("second", text(fake_llm, "second"))
    dead = ModelSpec("dead", "openai", endpoint="http://127.0.0.1:9/v1")
    router = ModelRouter([dead, openai(fake_llm, "second")])
    answer, stream = await read_all(router)
    assert answer and stream.route.attempts[0].failure is FailureClass.CONNECT  # type: ignore[attr-defined]
    await router.aclose()


async def test_anthropic_overload_falls_back_to_openai(fake_llm: FakeLLM) -> None:
    fake_llm.script("claude", anthropic_error(529, "overloaded_error", "Overloaded"))
    fake_llm.script("gpt", text(fake_llm, "gpt"))
    router = ModelRouter([anthropic(fake_llm, "claude"), openai(fake_llm, "gpt")])
    answer, _ = await read_all(router)
    assert answer == "Hello there! How can I help?"
    await router.aclose()


async def test_stall_before_the_first_token_falls_back(fake_llm: FakeLLM) -> None:
    fake_llm.script("stalls", text(fake_llm, "stalls", stall_after=0, stall=5))
    fake_llm.script("second", text(fake_llm, "second"))
    router = ModelRouter(
        [openai(fake_llm, "stalls"), openai(fake_llm, "second")], first_token_timeout=0.3
    )
    answer, stream = await read_all(router)
    assert answer and stream.route.attempts[0].failure is FailureClass.TIMEOUT  # type: ignore[attr-defined]
    await router.aclose()


async def test_malformed_event_before_the_first_token_falls_back(fake_llm: FakeLLM) -> None:
    fake_llm.script("garbled", Reply(events=[b"data: {not json\n\n"]))
    fake_llm.script("second", text(fake_llm, "second"))
    router = ModelRouter([openai(fake_llm, "garbled"), openai(fake_llm, "second")])
    answer, stream = await read_all(router)
    assert answer and stream.route.attempts[0].failure is FailureClass.STREAM  # type: ignore[attr-defined]
    await router.aclose()


async def test_failure_after_the_commit_point_is_raised_not_hidden(fake_llm: FakeLLM) -> None:
    fake_llm.script("cuts", text(fake_llm, "cuts", cut_after=4))
    fake_llm.script("second", text(fake_llm, "second"))
    router = ModelRouter([openai(fake_llm, "cuts"), openai(fake_llm, "second")])
    stream = await router.stream(HELLO)
    received = []
    with pytest.raises(StreamInterrupted) as info:
        async for delta in stream:
            received.append(delta.text)
    assert info.value.error.failure is FailureClass.STREAM
    assert "".join(received) == "Hello there!"
    assert fake_llm.requests_for("second") == []  # no silent switch mid-answer
    await router.aclose()


async def test_a_failing_model_cools_down_for_retry_after(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        "limited",
        openai_error(429, "slow down", "rate_limit_exceeded", "requests", {"retry-after": "40"}),
    )
    fake_llm.script("second", text(fake_llm, "second"))
    router = ModelRouter([openai(fake_llm, "limited"), openai(fake_llm, "second")], cooldown=1)
    await read_all(router)
    remaining = router.cooling_until("limited") - time.monotonic()
    assert 38 < remaining <= 40
    await read_all(router)
    assert len(fake_llm.requests_for("limited")) == 1  # skipped while cooling
    await router.aclose()


async def test_context_length_does_not_cool_the_model_down(fake_llm: FakeLLM) -> None:
    fake_llm.script("short", openai_error(400, "maximum context length", "context_length_exceeded"))
    fake_llm.script("second", text(fake_llm, "second"))
    router = ModelRouter([openai(fake_llm, "short"), openai(fake_llm, "second")])
    await read_all(router)
    assert router.cooling_until("short") == 0.0
    await router.aclose()


async def test_all_failing_is_a_503_naming_the_classes_and_no_key(fake_llm: FakeLLM) -> None:
    fake_llm.script("a", openai_error(429, f"limited for key {KEY}", "rate_limit_exceeded"))
    fake_llm.script("b", openai_error(500, "boom", "server_error", "server_error"))
    router = ModelRouter([openai(fake_llm, "a"), openai(fake_llm, "b")])
    with pytest.raises(HTTPError) as info:
        await router.stream(HELLO)
    error = info.value
    assert error.status == 503 and error.code == "all_models_failed"
    assert "rate_limit" in error.message and "server_error" in error.message
    assert KEY not in error.message and KEY not in str(error.headers)
    await router.aclose()


async def test_all_failing_says_when_the_first_model_is_back(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        "a", openai_error(429, "limited", "rate_limit_exceeded", "tokens", {"retry-after": "20"})
    )
    fake_llm.script(
        "b", openai_error(429, "limited", "rate_limit_exceeded", "tokens", {"retry-after": "40"})
    )
    router = ModelRouter([openai(fake_llm, "a"), openai(fake_llm, "b")])
    with pytest.raises(HTTPError) as info:
        await router.stream(HELLO)
    assert info.value.status == 503 and info.value.headers["retry-after"] == "20"
    await router.aclose()


async def test_a_class_not_configured_for_fallback_is_returned(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        "a", openai_error(429, "limited", "rate_limit_exceeded", "tokens", {"retry-after": "3"})
    )
    fake_llm.script("b", text(fake_llm, "b"))
    router = ModelRouter(
        [openai(fake_llm, "a"), openai(fake_llm, "b")], fallback_on=[FailureClass.SERVER]
    )
    with pytest.raises(HTTPError) as info:
        await router.stream(HELLO)
    assert info.value.status == 429 and info.value.headers["retry-after"] == "3"
    assert fake_llm.requests_for("b") == []
    await router.aclose()


async def test_a_request_may_wait_for_the_earliest_cooldown_end(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        "only",
        openai_error(429, "wait", "rate_limit_exceeded", "requests", {"retry-after": "0.3"}),
        text(fake_llm, "only"),
    )
    router = ModelRouter([openai(fake_llm, "only")], wait_for_cooldown=2.0)
    answer, _ = await read_all(router)
    assert answer == "Hello there! How can I help?"
    assert len(fake_llm.requests_for("only")) == 2
    await router.aclose()


async def test_without_waiting_a_cooling_router_fails_at_once(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        "only",
        openai_error(429, "wait", "rate_limit_exceeded", "requests", {"retry-after": "0.3"}),
        text(fake_llm, "only"),
    )
    router = ModelRouter([openai(fake_llm, "only")])
    with pytest.raises(HTTPError):
        await router.stream(HELLO)
    await router.aclose()


async def test_closing_the_stream_closes_the_upstream_request(fake_llm: FakeLLM) -> None:
    events = transcript("openai/text.sse")
    fake_llm.script("slow", Reply(events=events, event_delay=0.2))
    router = ModelRouter([openai(fake_llm, "slow")])
    stream = await router.stream(HELLO)
    async for _ in stream:
        break
    await stream.aclose()
    assert await asyncio.to_thread(fake_llm.wait_for_disconnect)
    assert fake_llm.disconnects == ["slow"]
    await router.aclose()


async def test_complete_falls_back_and_reports_usage(fake_llm: FakeLLM) -> None:
    fake_llm.script("a", openai_error(503, "unavailable", "server_error", "server_error"))
    fake_llm.script(
        "b",
        Reply(
            body=b'{"id":"x","object":"chat.completion","created":1,'
            b'"model":"b","choices":[{"index":0,"finish_reason":"stop",'
            b'"message":{"role":"assistant","content":"done"}}],'
            b'"usage":{"prompt_tokens":4,"completion_tokens":1,'
            b'"total_tokens":5}}'
        ),
    )
    router = ModelRouter([openai(fake_llm, "a"), openai(fake_llm, "b")])
    request = SimpleNamespace(state=SimpleNamespace())
    result = await router.complete(HELLO, request=request)
    assert (result.model.name, result.text) == ("b", "done")
    assert request.state.ember_usage == {"prompt_tokens": 4, "completion_tokens": 1}
    assert request.state.ember_route.model == "b"
    await router.aclose()


async def test_stream_sets_the_real_usage_on_the_request(fake_llm: FakeLLM) -> None:
    fake_llm.script("a", text(fake_llm, "a"))
    router = ModelRouter([openai(fake_llm, "a")])
    request = SimpleNamespace(state=SimpleNamespace())
    await read_all(router, request=request)
    assert request.state.ember_usage == {"prompt_tokens": 12, "completion_tokens": 9}
    await router.aclose()


async def test_max_tokens_never_exceeds_the_routes_completion_cap(fake_llm: FakeLLM) -> None:
    fake_llm.script("a", text(fake_llm, "a"))
    router = ModelRouter([openai(fake_llm, "a")])
    request = SimpleNamespace(state=SimpleNamespace(max_completion_tokens=64))
    await read_all(router, request=request, max_tokens=1000)
    assert fake_llm.requests[0].body["max_tokens"] == 64
    await router.aclose()


async def test_round_robin_fallback_continues_in_rotation(fake_llm: FakeLLM) -> None:
    fake_llm.script("a", text(fake_llm, "a"))
    fake_llm.script("b", openai_error(500, "boom", "server_error", "server_error"))
    fake_llm.script("c", text(fake_llm, "c"))
    router = ModelRouter([openai(fake_llm, m) for m in "abc"], RoutingStrategy.ROUND_ROBIN)
    _, first = await read_all(router)
    _, second = await read_all(router)
    assert first.model.name == "a"  # type: ignore[attr-defined]
    assert second.model.name == "c"  # type: ignore[attr-defined]  (b failed: next in turn)
    await router.aclose()


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_finished_streams_leave_their_connection_in_the_pool(
    fake_llm: FakeLLM, kind: str
) -> None:
    if kind == "openai":
        spec, events = openai(fake_llm, "m"), transcript("openai/text.sse")
    else:
        spec, events = anthropic(fake_llm, "m"), transcript("anthropic/basic_response.sse")
    fake_llm.script("m", Reply(events=events))
    router = ModelRouter([spec])
    await read_all(router)
    await read_all(router)
    first, second = fake_llm.requests
    assert first.client_port == second.client_port  # one connection, reused
    await router.aclose()


async def test_cancelling_before_the_first_token_closes_the_upstream(fake_llm: FakeLLM) -> None:
    fake_llm.script("slow", text(fake_llm, "slow", stall_after=1, stall=5))
    router = ModelRouter([openai(fake_llm, "slow")])
    task = asyncio.create_task(router.stream(HELLO))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(fake_llm.wait_for_disconnect)
    await router.aclose()


async def test_concurrent_streams_rotate_evenly_and_all_complete(fake_llm: FakeLLM) -> None:
    for name in ("a", "b"):
        fake_llm.script(name, text(fake_llm, name, event_delay=0.01))
    router = ModelRouter(
        [openai(fake_llm, "a"), openai(fake_llm, "b")], RoutingStrategy.ROUND_ROBIN
    )
    results = await asyncio.gather(*(read_all(router) for _ in range(40)))
    assert {answer for answer, _ in results} == {"Hello there! How can I help?"}
    chosen = [stream.model.name for _, stream in results]  # type: ignore[attr-defined]
    assert chosen.count("a") == chosen.count("b") == 20
    await router.aclose()
