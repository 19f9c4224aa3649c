"""The gateway refuses wrongly typed requests with a 400 in the OpenAI envelope
before any model is called, naming the field, as OpenAI's API does."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from ember import Ember
from ember.ai.openai_compat import add_openai_routes
from ember.ai.router import ModelRouter, ModelSpec

HI = [{"role": "user", "content": "hi"}]
NAME, PARAMS = "tools[0].function.name", "tools[0].function.parameters"
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
BAD_CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": {}}}


def choose(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def gateway() -> Ember:
    app = Ember(model_router=ModelRouter([ModelSpec("local", "local", supports_tools=True)]))
    add_openai_routes(app)
    return app


async def post(body: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=gateway())
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        return await client.post("/v1/chat/completions", json=body)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([1, 2], None),
        ({"messages": "hi"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": ["hi"]}, "messages[0]"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": 123}]}, "messages[0].content"),
        ({"model": 123, "messages": HI}, "model"),
        ({"messages": HI, "max_tokens": "ten"}, "max_tokens"),
        ({"messages": HI, "max_completion_tokens": 0}, "max_completion_tokens"),
        ({"messages": HI, "stream": "yes"}, "stream"),
        ({"messages": HI, "stream": True, "stream_options": "usage"}, "stream_options"),
        ({"messages": HI, "temperature": "hot"}, "temperature"),
        ({"messages": HI, "temperature": 3}, "temperature"),
        ({"messages": HI, "top_p": True}, "top_p"),
        ({"messages": HI, "presence_penalty": -3}, "presence_penalty"),
        ({"messages": HI, "seed": 1.5}, "seed"),
        ({"messages": HI, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": HI, "stop": 7}, "stop"),
        ({"messages": HI, "tools": "get_weather"}, "tools"),
        ({"messages": HI, "tools": [{"type": "function", "function": {"name": 5}}]}, NAME),
        ({"messages": HI, "tools": [{"type": "function", "function": {"name": "a b"}}]}, NAME),
        ({"messages": HI, "tools": [{"function": {"name": "f", "parameters": "x"}}]}, PARAMS),
        ({"messages": HI, "tool_choice": 5}, "tool_choice"),
        ({"messages": HI, "tool_choice": "required"}, "tool_choice"),
        ({"messages": HI, "tools": [WEATHER], "tool_choice": choose("nope")}, "tool_choice"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages[0].content[0].text",
        ),
        ({"messages": [{"role": "user", "content": ["hi"]}]}, "messages[0].content[0]"),
        ({"messages": [{"role": "user", "content": "x", "name": 5}]}, "messages[0].name"),
        ({"messages": [*HI, {"role": "tool", "content": "r"}]}, "messages[1].tool_call_id"),
        ({"messages": [*HI, {"role": "assistant", "tool_calls": "x"}]}, "messages[1].tool_calls"),
        (
            {"messages": [*HI, {"role": "user", "content": "x", "tool_calls": []}]},
            "messages[1].tool_calls",
        ),
        (
            {"messages": [*HI, {"role": "assistant", "tool_calls": ["x"]}]},
            "messages[1].tool_calls[0]",
        ),
        (
            {"messages": [*HI, {"role": "assistant", "tool_calls": [BAD_CALL]}]},
            "messages[1].tool_calls[0]",
        ),
        ({"messages": HI, "n": 2}, "n"),
    ],
)
async def test_a_wrongly_typed_field_is_a_400_naming_it(body: Any, param: str | None) -> None:
    response = await post(body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param


async def test_a_tool_conversation_in_the_openai_shape_is_accepted() -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        *HI,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 18}'},
        {"role": "assistant", "content": None, "refusal": "No."},
    ]
    body = {"messages": messages, "tools": [WEATHER], "tool_choice": choose("get_weather")}
    assert (await post(body)).status_code == 200


async def test_well_typed_optional_fields_are_accepted() -> None:
    body = {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "temperature": 0.2,
        "top_p": 1,
        "seed": 7,
        "stop": ["\n\n"],
        "stream": False,
        "stream_options": None,
    }
    response = await post(body)
    assert response.status_code == 200
    assert response.json()["object"] == "chat.completion"
