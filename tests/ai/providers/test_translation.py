"""Messages and tools translate between the OpenAI and Anthropic shapes, both ways."""

from __future__ import annotations

import json

from ember.ai.providers.anthropic import (
    to_anthropic_messages,
    to_anthropic_tool_choice,
    to_anthropic_tools,
    to_openai_messages,
    to_openai_tools,
)

OPENAI_HISTORY = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris and Rome?"},
    {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})},
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps({"city": "Rome"})},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    {"role": "tool", "tool_call_id": "call_2", "content": "24C"},
    {"role": "assistant", "content": "Paris 18C, Rome 24C."},
]

ANTHROPIC_MESSAGES = [
    {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
    {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}},
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "call_2", "content": "24C"},
        ],
    },
    {"role": "assistant", "content": [{"type": "text", "text": "Paris 18C, Rome 24C."}]},
]


def test_openai_history_becomes_system_plus_alternating_messages() -> None:
    system, messages = to_anthropic_messages(OPENAI_HISTORY)
    assert system == "You are terse."
    assert messages == ANTHROPIC_MESSAGES


def test_anthropic_history_becomes_openai_messages() -> None:
    assert to_openai_messages("You are terse.", ANTHROPIC_MESSAGES) == OPENAI_HISTORY


def test_round_trip_keeps_the_history() -> None:
    system, messages = to_anthropic_messages(OPENAI_HISTORY)
    assert to_openai_messages(system, messages) == OPENAI_HISTORY


def test_tools_translate_both_ways() -> None:
    openai_tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    anthropic_tools = to_anthropic_tools(openai_tools)
    assert anthropic_tools == [
        {
            "name": "get_weather",
            "description": "Current weather.",
            "input_schema": openai_tools[0]["function"]["parameters"],
        }
    ]
    assert to_openai_tools(anthropic_tools) == openai_tools


def test_tool_choice_maps_to_anthropic() -> None:
    assert to_anthropic_tool_choice("auto", None) == {"type": "auto"}
    assert to_anthropic_tool_choice("required", None) == {"type": "any"}
    assert to_anthropic_tool_choice("none", None) == {"type": "none"}
    assert to_anthropic_tool_choice({"type": "function", "function": {"name": "f"}}, None) == {
        "type": "tool",
        "name": "f",
    }
    assert to_anthropic_tool_choice(None, False) == {
        "type": "auto",
        "disable_parallel_tool_use": True,
    }
