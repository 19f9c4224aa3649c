"""Golden transcripts through the one delta assembler, OpenAI and Anthropic alike.

Each transcript is parsed by its provider's own parser (the code the live
stream goes through) and folded by ``Assembler``; the expected results are
written out by hand.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from ember.ai.assembler import Assembler, ToolCallAssembler
from ember.ai.providers.anthropic import StreamParser
from ember.ai.providers.base import ToolCallDelta
from ember.ai.providers.openai import parse_chunk
from fake_llm import transcript


def assemble_openai(name: str) -> Assembler:
    assembler = Assembler()
    for event in transcript(f"openai/{name}"):
        data = event.decode().removeprefix("data: ").strip()
        if data == "[DONE]":
            break
        delta = parse_chunk(json.loads(data))
        if delta is not None:
            assembler.add(delta)
    return assembler


def assemble_anthropic(name: str) -> Assembler:
    assembler = Assembler()
    parser = StreamParser()
    for event in transcript(f"anthropic/{name}"):
        lines = event.decode().splitlines()
        kind = lines[0].removeprefix("event: ")
        delta = parser.feed(kind, json.loads(lines[1].removeprefix("data: ")))
        if delta is not None:
            assembler.add(delta)
    return assembler


def calls(assembler: Assembler) -> list[tuple[str, str, Any]]:
    return [(c.id, c.name, c.arguments) for c in assembler.tool_calls()]


def test_openai_parallel_calls() -> None:
    result = assemble_openai("parallel_tool_calls.sse")
    assert calls(result) == [
        ("call_Wq1", "get_weather", {"city": "Paris"}),
        ("call_Xr2", "get_time", {"tz": "Europe/Paris"}),
    ]
    assert result.text == "" and result.finish_reason == "tool_calls"


def test_openai_text_and_tool_call_in_one_chunk_keeps_both() -> None:
    result = assemble_openai("text_and_tool_call_in_one_chunk.sse")
    assert result.text == "Let me look that up."
    assert calls(result) == [("call_Ab3", "search", {"q": "ember"})]


def test_openai_empty_arguments_are_an_empty_object() -> None:
    assert calls(assemble_openai("empty_arguments.sse")) == [("call_Em4", "get_time", {})]


def test_openai_arguments_split_mid_escape() -> None:
    assert calls(assemble_openai("arguments_split_mid_escape.sse")) == [
        ("call_Es5", "echo", {"text": 'café "quoted"\n'})
    ]


def test_openai_usage_comes_from_the_final_chunk() -> None:
    result = assemble_openai("parallel_tool_calls.sse")
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (80, 41)


def test_anthropic_text_then_tool_use_split_mid_string() -> None:
    result = assemble_anthropic("tool_use_response.sse")
    assert result.text == "I'll check the current weather in Paris for you."
    assert calls(result) == [
        ("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", {"location": "Paris"})
    ]
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (377, 65)


def test_anthropic_incomplete_input_is_kept_as_text() -> None:
    [(_, name, arguments)] = calls(assemble_anthropic("incomplete_partial_json_response.sse"))
    assert name == "make_file" and isinstance(arguments, str)


def test_anthropic_tool_use_with_empty_input() -> None:
    parser = StreamParser()
    assembler = Assembler()
    events = [
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": ""},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ]
    for kind, data in events:
        delta = parser.feed(kind, data)
        if delta is not None:
            assembler.add(delta)
    assert calls(assembler) == [("toolu_1", "now", {})]


def test_anthropic_parallel_tool_uses_get_their_own_indexes() -> None:
    parser = StreamParser()
    assembler = Assembler()
    for block, (tid, args) in enumerate([("toolu_a", '{"x": 1}'), ("toolu_b", '{"x": 2}')], 1):
        for kind, data in [
            (
                "content_block_start",
                {
                    "index": block,
                    "content_block": {"type": "tool_use", "id": tid, "name": "f", "input": {}},
                },
            ),
            (
                "content_block_delta",
                {"index": block, "delta": {"type": "input_json_delta", "partial_json": args[:4]}},
            ),
            (
                "content_block_delta",
                {"index": block, "delta": {"type": "input_json_delta", "partial_json": args[4:]}},
            ),
        ]:
            delta = parser.feed(kind, {"type": kind, **data})
            if delta is not None:
                assembler.add(delta)
    assert calls(assembler) == [("toolu_a", "f", {"x": 1}), ("toolu_b", "f", {"x": 2})]


@pytest.mark.parametrize("index", [-1])
def test_continuations_without_index_or_id_extend_the_last_call(index: int) -> None:
    tools = ToolCallAssembler()
    tools.add(ToolCallDelta(0, id="c1", name="f"))
    tools.add(ToolCallDelta(index, arguments='{"a":'))
    tools.add(ToolCallDelta(index, arguments=" 1}"))
    assert [(c.id, c.arguments) for c in tools.calls()] == [("c1", {"a": 1})]


def test_a_new_id_on_a_reused_index_starts_a_new_call() -> None:
    tools = ToolCallAssembler()
    tools.add(ToolCallDelta(0, id="c1", name="f", arguments="{}"))
    tools.add(ToolCallDelta(0, id="c2", name="g", arguments='{"b": 2}'))
    assert [(c.id, c.name, c.arguments) for c in tools.calls()] == [
        ("c1", "f", {}),
        ("c2", "g", {"b": 2}),
    ]
