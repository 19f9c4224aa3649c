"""The tool loop end to end: ai_route(tool_registry=...) → router → model → tools → model.

Offline with the local provider, and against the fake OpenAI and Anthropic
servers replaying real wire transcripts.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from ember import Ember, Request
from ember.ai import ConversationContext, MessageRole, ToolRegistry, run_tool_loop
from ember.ai.router import ModelRouter, ModelSpec
from fake_llm import FakeLLM, Reply, transcript


def registry() -> ToolRegistry:
    tools = ToolRegistry()

    @tools.register(description="Current weather for a city.")
    async def get_weather(city: str = "", location: str = "") -> dict[str, Any]:
        return {"city": city or location, "temperature": 18}

    @tools.register(description="Current time in a time zone.")
    async def get_time(tz: str) -> str:
        return f"12:00 in {tz}"

    return tools


def chat_app(router: ModelRouter) -> Ember:
    app = Ember(model_router=router)

    @app.ai_route("/chat", methods=["POST"], streaming=True, tool_registry=registry())
    async def chat(
        request: Request,
        context: ConversationContext,
        model_router: ModelRouter,
        tool_registry: ToolRegistry,
    ) -> Any:
        body = await request.json()
        context.add_message(MessageRole.USER, body["message"])
        return model_router.stream_tool_loop(context, tool_registry, request=request)

    return app


def sse_data(body: str) -> str:
    """The text of a token stream's data events (the closing ``done`` event left out)."""
    text = []
    for event in body.split("\n\n"):
        lines = event.splitlines()
        if "event: done" not in lines:
            text += [line[len("data: ") :] for line in lines if line.startswith("data: ")]
    return "".join(text)


async def post(app: Ember, message: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ember", timeout=10) as c:
        return await c.post("/chat", json={"message": message})


async def test_local_model_calls_a_tool_and_streams_the_answer() -> None:
    router = ModelRouter([ModelSpec("local", "local", supports_tools=True)])
    response = await post(chat_app(router), 'use get_weather {"city": "Paris"}')
    assert response.status_code == 200
    assert sse_data(response.text) == ('get_weather returned: {"city": "Paris", "temperature": 18}')
    assert response.headers["x-ember-route-model"] == "local"


async def test_fake_openai_parallel_calls_then_answer(
    fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", "k")
    fake_llm.script(
        "gpt",
        Reply(events=transcript("openai/parallel_tool_calls.sse")),
        Reply(events=transcript("openai/text.sse")),
    )
    router = ModelRouter(
        [
            ModelSpec(
                "gpt",
                "openai",
                endpoint=fake_llm.base_url + "/v1",
                api_key_env="FAKE_KEY",
                supports_tools=True,
            )
        ]
    )
    response = await post(chat_app(router), "weather and time in Paris?")
    await router.aclose()
    assert sse_data(response.text) == "Hello there! How can I help?"
    first, second = (r.body for r in fake_llm.requests)
    assert [t["function"]["name"] for t in first["tools"]] == ["get_weather", "get_time"]
    results = [m for m in second["messages"] if m["role"] == "tool"]
    assert [
        (
            m["tool_call_id"],
            json.loads(m["content"]) if m["content"].startswith("{") else m["content"],
        )
        for m in results
    ] == [
        ("call_Wq1", {"city": "Paris", "temperature": 18}),
        ("call_Xr2", "12:00 in Europe/Paris"),
    ]
    [assistant] = [m for m in second["messages"] if m.get("tool_calls")]
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_Wq1", "call_Xr2"]


async def test_a_refusal_is_streamed_as_the_answer(
    fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", "k")
    fake_llm.script("gpt", Reply(events=transcript("openai/refusal.sse")))
    url = fake_llm.base_url + "/v1"
    spec = ModelSpec("gpt", "openai", endpoint=url, api_key_env="FAKE_KEY", supports_tools=True)
    router = ModelRouter([spec])
    response = await post(chat_app(router), "something refused")
    await router.aclose()
    assert sse_data(response.text) == "I'm sorry, I can't help with that request."


async def test_fake_anthropic_tool_use_then_answer(
    fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", "k")
    fake_llm.script(
        "claude",
        Reply(events=transcript("anthropic/tool_use_response.sse")),
        Reply(events=transcript("anthropic/basic_response.sse")),
    )
    router = ModelRouter(
        [
            ModelSpec(
                "claude",
                "anthropic",
                endpoint=fake_llm.base_url,
                api_key_env="FAKE_KEY",
                supports_tools=True,
            )
        ]
    )
    response = await post(chat_app(router), "weather in Paris?")
    await router.aclose()
    assert sse_data(response.text).endswith("Hello there!")
    second = fake_llm.requests[1].body
    assert second["messages"][-2]["content"][0] == {
        "type": "tool_use",
        "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn",
        "name": "get_weather",
        "input": {"location": "Paris"},
    }
    [result] = second["messages"][-1]["content"]
    assert result["type"] == "tool_result"
    assert result["tool_use_id"] == "toolu_01NRLabsLyVHZPKxbKvkfSMn"
    assert json.loads(result["content"]) == {"city": "Paris", "temperature": 18}


async def test_run_tool_loop_with_the_router_as_model() -> None:
    router = ModelRouter([ModelSpec("local", "local", supports_tools=True)])
    context = ConversationContext()
    context.add_message(MessageRole.USER, 'get_time {"tz": "UTC"}')
    result = await run_tool_loop(router.tool_loop_model(), registry(), context)
    assert result.content == "get_time returned: 12:00 in UTC"
    assert result.steps == 2


async def test_a_failure_after_the_first_token_ends_the_stream_with_an_error_event(
    fake_llm: FakeLLM,
) -> None:
    fake_llm.script("gpt", Reply(events=transcript("openai/text.sse"), cut_after=4))
    router = ModelRouter(
        [ModelSpec("gpt", "openai", endpoint=fake_llm.base_url + "/v1", supports_tools=True)]
    )
    response = await post(chat_app(router), "hi")
    await router.aclose()
    assert response.status_code == 200
    assert sse_data(response.text).startswith("Hello there!")
    assert "event: error" in response.text and '"type":"server_error"' in response.text
