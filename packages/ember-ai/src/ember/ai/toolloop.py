"""The bounded tool loop: model → tool calls → results → model, ``max_steps`` times.

The loop knows nothing of providers: ``call_model(messages, tools)`` is any
async function returning a ``ModelTurn`` (the router drives it with a real
model). ``tools`` is ``None`` on the last call, which asks the model for a
plain answer once the step budget is spent, so a model that keeps calling
tools cannot loop forever or bill without bound.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from .context import ConversationContext, Message, MessageRole
from .tools import ToolCall, ToolRegistry, ToolResult


@dataclass(frozen=True, slots=True)
class ModelTurn:
    """What one model call answered: text, tool calls, or both."""

    content: str = ""
    tool_calls: Sequence[ToolCall] = ()


@dataclass(frozen=True, slots=True)
class ToolLoopResult:
    """The final answer and what led to it."""

    content: str
    steps: int  # model calls made
    tool_results: list[ToolResult] = field(default_factory=list)


class ToolLoopError(RuntimeError):
    """The model still asked for tools when it was told to answer."""


CallModel = Callable[[list[Message], ToolRegistry | None], Awaitable[ModelTurn]]


async def run_tool_loop(
    call_model: CallModel,
    tools: ToolRegistry,
    context: ConversationContext,
    *,
    max_steps: int = 8,
) -> ToolLoopResult:
    """Alternate model calls and tool runs until the model answers.

    Every assistant message (with its tool calls) and every tool result is
    added to ``context``, so the history stays complete and a later turn sees
    what the tools returned. At most ``max_steps`` calls may use tools; one
    more call without tools then asks for the answer.
    """
    if max_steps < 1:
        raise ValueError("max_steps must be at least 1")
    results: list[ToolResult] = []
    for step in range(1, max_steps + 2):
        offer = tools if step <= max_steps else None
        turn = await call_model(context.get_messages(), offer)
        if not turn.tool_calls:
            context.add_message(MessageRole.ASSISTANT, turn.content)
            return ToolLoopResult(turn.content, step, results)
        if offer is None:
            raise ToolLoopError(
                f"the model asked for tools after {max_steps} tool steps and a request "
                "to answer without them"
            )
        context.add_message(MessageRole.ASSISTANT, turn.content, tool_calls=turn.tool_calls)
        step_results = await tools.execute_many(turn.tool_calls)
        for result in step_results:
            context.add_message(
                MessageRole.TOOL, result.content, name=result.name, tool_call_id=result.tool_call_id
            )
        results.extend(step_results)
    raise AssertionError("unreachable")


__all__ = ["CallModel", "ModelTurn", "ToolLoopError", "ToolLoopResult", "run_tool_loop"]
