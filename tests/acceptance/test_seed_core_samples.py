"""The seed's core samples, served by real uvicorn, behave as their curl lines say.

Each sample lives unchanged in ``examples/``; a module-scoped fixture serves it
in a child process on a free 127.0.0.1 port for the tests of that sample.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from httpx_sse import connect_sse
from servers import uvicorn_server

TIMEOUT = httpx.Timeout(20.0)


@pytest.fixture(scope="module")
def basic_sse() -> Iterator[str]:
    with uvicorn_server("seed_basic_sse:app") as url:
        yield url


@pytest.fixture(scope="module")
def token_streaming() -> Iterator[str]:
    with uvicorn_server("seed_token_streaming:app") as url:
        yield url


@pytest.fixture(scope="module")
def openai_compatible() -> Iterator[str]:
    with uvicorn_server("seed_openai_compatible:app") as url:
        yield url


def _timed_lines(response: httpx.Response) -> list[tuple[float, str]]:
    """Every non-empty line of a streamed body with the moment it arrived."""
    return [(time.monotonic(), line) for line in response.iter_lines() if line]


# ------------------------------------------------------------ Basic SSE Streaming


def test_basic_sse_sends_data_0_to_9(basic_sse: str) -> None:
    with httpx.stream("GET", f"{basic_sse}/stream", timeout=TIMEOUT) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for _, line in _timed_lines(response)]
    assert lines == [f"data: {i}" for i in range(10)]


def test_basic_sse_events_arrive_while_the_generator_runs(basic_sse: str) -> None:
    # The generator sleeps 0.1 s before each of its 10 events, so ~0.9 s pass
    # between producing the first and the last. A buffered response would
    # deliver them together; a streamed one spreads them over that time.
    with httpx.stream("GET", f"{basic_sse}/stream", timeout=TIMEOUT) as response:
        timed = _timed_lines(response)
    first, last = timed[0][0], timed[-1][0]
    assert last - first > 0.45


# ------------------------------------------------------------ Token Streaming


def test_token_streaming_sends_one_event_per_word(token_streaming: str) -> None:
    with (
        httpx.Client(timeout=TIMEOUT) as client,
        connect_sse(
            client, "POST", f"{token_streaming}/generate", json={"prompt": "Hello"}
        ) as source,
    ):
        assert source.response.headers["content-type"].startswith("text/event-stream")
        tokens = [event.data for event in source.iter_sse()]
    assert tokens == ["You ", "asked: ", "Hello. ", "Here ", "is ", "my ", "answer. "]


def test_token_streaming_wire_format_matches_the_curl_lines(token_streaming: str) -> None:
    with httpx.stream(
        "POST",
        f"{token_streaming}/generate",
        json={"prompt": "Hello"},
        timeout=TIMEOUT,
    ) as response:
        lines = [line.rstrip() for _, line in _timed_lines(response)]
    assert lines[:2] == ["data: You", "data: asked:"]


def test_token_streaming_tokens_arrive_while_the_generator_runs(token_streaming: str) -> None:
    # 7 words, 0.04 s apart: ~0.24 s between the first and the last.
    with httpx.stream(
        "POST", f"{token_streaming}/generate", json={"prompt": "Hello"}, timeout=TIMEOUT
    ) as response:
        timed = _timed_lines(response)
    assert len(timed) == 7
    assert timed[-1][0] - timed[0][0] > 0.12


def test_token_streaming_malformed_json_is_a_400_envelope(token_streaming: str) -> None:
    response = httpx.post(
        f"{token_streaming}/generate",
        content=b"{not json",
        headers={"content-type": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


# ------------------------------------------------------------ OpenAI-Compatible Endpoint

_ANSWER = "Hello! I am Ember, your AI assistant. "
_MESSAGES = [{"role": "user", "content": "Hello"}]


def test_openai_sample_non_streaming_returns_a_chat_completion(openai_compatible: str) -> None:
    response = httpx.post(
        f"{openai_compatible}/v1/chat/completions",
        json={"model": "ember-default", "messages": _MESSAGES},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "ember-default"
    assert body["choices"] == [{"message": {"role": "assistant", "content": _ANSWER}, "index": 0}]
    assert body["usage"] == {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}


def test_openai_sample_streaming_sends_chunks_then_done(openai_compatible: str) -> None:
    with httpx.stream(
        "POST",
        f"{openai_compatible}/v1/chat/completions",
        json={"model": "ember-default", "stream": True, "messages": _MESSAGES},
        timeout=TIMEOUT,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        data = [line.removeprefix("data: ") for line in response.iter_lines() if line]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert "".join(chunk["choices"][0]["delta"]["content"] for chunk in chunks) == _ANSWER


def test_openai_sample_stream_chunks_arrive_while_the_generator_runs(
    openai_compatible: str,
) -> None:
    # 7 tokens, 0.05 s apart: ~0.3 s between the first chunk and [DONE].
    with httpx.stream(
        "POST",
        f"{openai_compatible}/v1/chat/completions",
        json={"stream": True, "messages": _MESSAGES},
        timeout=TIMEOUT,
    ) as response:
        timed = _timed_lines(response)
    assert timed[-1][0] - timed[0][0] > 0.15


def test_official_openai_client_reads_the_non_streaming_reply(openai_compatible: str) -> None:
    client = openai.OpenAI(base_url=f"{openai_compatible}/v1", api_key="x", timeout=20)
    with client:
        completion = client.chat.completions.create(model="ember-default", messages=_MESSAGES)
    assert completion.object == "chat.completion"
    assert completion.model == "ember-default"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == _ANSWER
    assert completion.usage is not None
    assert completion.usage.total_tokens == 27


def test_official_openai_client_reads_the_stream(openai_compatible: str) -> None:
    client = openai.OpenAI(base_url=f"{openai_compatible}/v1", api_key="x", timeout=20)
    with client:
        stream = client.chat.completions.create(
            model="ember-default", messages=_MESSAGES, stream=True
        )
        pieces = [chunk.choices[0].delta.content or "" for chunk in stream]
    assert "".join(pieces) == _ANSWER
    assert len(pieces) == 7
