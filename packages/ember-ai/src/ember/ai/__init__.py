"""ember-ai: AI routes, conversation sessions and tool calling for Ember.

Typed code imports from here (``from ember.ai import ConversationContext``);
``from ember import ConversationContext`` works too, resolved lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .context import ConversationContext, Message, MessageRole
from .sessions import MemorySessionStore, SessionStore
from .streams import sse_stream
from .toolloop import ModelTurn, ToolLoopError, ToolLoopResult, run_tool_loop
from .tools import ParameterSchema, ToolCall, ToolError, ToolRegistry, ToolResult

if TYPE_CHECKING:  # typed for mypy, imported lazily at run time (see __getattr__)
    from .router import ModelRouter, ModelSpec, RoutingStrategy
    from .sessions.redis import RedisSessionStore

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The router and the Redis store are imported on first use: the router
    # pulls in the providers, the Redis store needs the `redis` extra.
    if name in ("ModelRouter", "ModelSpec", "RoutingStrategy"):
        from . import router

        return getattr(router, name)
    if name == "RedisSessionStore":
        from .sessions.redis import RedisSessionStore

        return RedisSessionStore
    raise AttributeError(f"module 'ember.ai' has no attribute {name!r}")


__all__ = [
    "ConversationContext",
    "MemorySessionStore",
    "Message",
    "MessageRole",
    "ModelRouter",
    "ModelSpec",
    "ModelTurn",
    "ParameterSchema",
    "RedisSessionStore",
    "RoutingStrategy",
    "SessionStore",
    "ToolCall",
    "ToolError",
    "ToolLoopError",
    "ToolLoopResult",
    "ToolRegistry",
    "ToolResult",
    "run_tool_loop",
    "sse_stream",
]
