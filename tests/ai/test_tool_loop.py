"""The bounded tool loop: model → tools → model, at most max_steps tool rounds."""

from __future__ import annotations

import pytest
from ember.ai import ConversationContext, Message, MessageRole, ToolRegistry
from ember.ai.toolloop import ModelTurn, ToolLoopError, run_tool_loop
from ember.ai.tools import ToolCall


def weather_tools() -> ToolRegistry:
    tools = ToolRegistry()

    @tools.register
    async def weather(city: str) -> dict[str, object]:
        return {"city": city, "temperature": 22}

    return tools


async def test_tool_results_go_back_to_the_model_until_it_answers() -> None:
    seen: list[list[Message]] = []

    async def model(messages: list[Message], tools: ToolRegistry | None) -> ModelTurn:
        seen.append(messages)
        if messages[-1].role is MessageRole.USER:
            return ModelTurn("", [ToolCall("c1", "weather", {"city": "Paris"})])
        return ModelTurn(f"It is {messages[-1].content}")

    context = ConversationContext()
    context.add_message(MessageRole.USER, "Weather in Paris?")
    result = await run_tool_loop(model, weather_tools(), context, max_steps=3)
    assert result.steps == 2
    assert result.content == 'It is {"city": "Paris", "temperature": 22}'
    assert [m.role for m in context.get_messages()] == [
        MessageRole.USER,
        MessageRole.ASSISTANT,
        MessageRole.TOOL,
        MessageRole.ASSISTANT,
    ]
    assert context.get_messages()[2].tool_call_id == "c1"


async def test_after_max_steps_the_model_is_asked_to_answer_without_tools() -> None:
    offered: list[bool] = []

    async def model(messages: list[Message], tools: ToolRegistry | None) -> ModelTurn:
        offered.append(tools is not None)
        if tools is None:
            return ModelTurn("giving up on tools")
        return ModelTurn("", [ToolCall(f"c{len(offered)}", "weather", {"city": "Oslo"})])

    context = ConversationContext()
    result = await run_tool_loop(model, weather_tools(), context, max_steps=2)
    assert offered == [True, True, False]
    assert result.content == "giving up on tools"
    assert len(result.tool_results) == 2


async def test_a_model_that_never_stops_calling_tools_is_an_error() -> None:
    async def model(messages: list[Message], tools: ToolRegistry | None) -> ModelTurn:
        return ModelTurn("", [ToolCall("c", "weather", {"city": "Oslo"})])

    with pytest.raises(ToolLoopError):
        await run_tool_loop(model, weather_tools(), ConversationContext(), max_steps=1)


async def test_tool_failures_reach_the_model_as_results() -> None:
    async def model(messages: list[Message], tools: ToolRegistry | None) -> ModelTurn:
        if messages and messages[-1].role is MessageRole.TOOL:
            return ModelTurn(messages[-1].content)
        return ModelTurn("", [ToolCall("c", "missing_tool", {})])

    result = await run_tool_loop(model, weather_tools(), ConversationContext())
    assert result.content.startswith("Unknown tool 'missing_tool'")
    assert result.tool_results[0].is_error
