"""The tool loop driven through a ``ModelRouter``: model → tools → model.

``tool_loop_model(router)`` adapts the router to ``run_tool_loop`` (whole
answers). ``stream_tool_loop(router, context, tools)`` does the same loop but
streams text tokens as they arrive, so an ai_route with ``streaming=True``
can return it directly: tool steps run between the streamed parts, and the
answer after the last tool result streams to the client token by token.

Every step goes through the router, so each model call has fallback before
its first token. The context receives each assistant tool-call message and
each tool result; the streamed text itself is recorded by ai_route when the
stream ends (as for any streamed reply), so it is not added twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .assembler import ToolCallAssembler
from .context import ConversationContext, Message, MessageRole
from .toolloop import CallModel, ModelTurn, ToolLoopError
from .tools import ToolRegistry

if TYPE_CHECKING:
    from .router import ModelRouter


def tool_loop_model(router: ModelRouter, request: Any = None, **params: Any) -> CallModel:
    """A ``call_model`` for ``run_tool_loop`` that asks ``router.complete``."""

    async def call_model(messages: list[Message], tools: ToolRegistry | None) -> ModelTurn:
        specs = tools.to_openai_specs() if tools is not None and len(tools) else None
        result = await router.complete(
            [m.to_openai() for m in messages], tools=specs, request=request, **params
        )
        return ModelTurn(result.text, result.tool_calls)

    return call_model


async def stream_tool_loop(
    router: ModelRouter,
    context: ConversationContext,
    tools: ToolRegistry,
    *,
    request: Any = None,
    max_steps: int = 8,
    **params: Any,
) -> AsyncIterator[str]:
    """Yield the answer's text tokens, running the tools the model asks for.

    At most ``max_steps`` model calls may use tools; one more call without
    tools then asks for the answer (``ToolLoopError`` if it still asks).
    """
    if max_steps < 1:
        raise ValueError("max_steps must be at least 1")
    for step in range(1, max_steps + 2):
        offer = tools.to_openai_specs() if step <= max_steps and len(tools) else None
        messages = [m.to_openai() for m in context.get_messages()]
        calls = ToolCallAssembler()
        async with await router.stream(messages, tools=offer, request=request, **params) as stream:
            async for delta in stream:
                if delta.text:
                    yield delta.text
                if delta.refusal:  # a chat reader should see why there is no answer
                    yield delta.refusal
                for fragment in delta.tool_calls:
                    calls.add(fragment)
        if not calls:
            return
        if offer is None:
            raise ToolLoopError(
                f"the model asked for tools after {max_steps} tool steps and a request "
                "to answer without them"
            )
        tool_calls = calls.calls()
        context.add_message(MessageRole.ASSISTANT, "", tool_calls=tool_calls)
        for result in await tools.execute_many(tool_calls):
            context.add_message(
                MessageRole.TOOL, result.content, name=result.name, tool_call_id=result.tool_call_id
            )


__all__ = ["stream_tool_loop", "tool_loop_model"]
