"""examples/openai_gateway.py serves the official openai client offline, without keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from servers import uvicorn_server

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    # No keys in the environment: both hosted models fail before any network call.
    env = {"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": ""}
    with (
        uvicorn_server("openai_gateway:app", app_dir=EXAMPLES, env=env) as url,
        openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client,
    ):
        yield client


def test_without_keys_the_local_model_answers(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hello"}]
    )
    assert raw.parse().choices[0].message.content == "You said: hello"
    assert raw.headers["x-ember-route-model"] == "local"
    assert "gpt-4o-mini" in (
        raw.headers.get("x-ember-route-failures", "") + raw.headers.get("x-ember-route-skipped", "")
    )


def test_the_local_model_streams_a_tool_call(client: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    stream = client.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": 'use get_weather {"city": "Paris"}'}],
        tools=tools,  # type: ignore[arg-type]
        stream=True,
    )
    calls = [
        c for chunk in stream for choice in chunk.choices for c in choice.delta.tool_calls or ()
    ]
    assert calls[0].function is not None and calls[0].function.name == "get_weather"
    assert "".join(c.function.arguments or "" for c in calls if c.function) == '{"city": "Paris"}'
