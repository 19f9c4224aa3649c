"""Model providers: the built-in ones and the registry third-party ones join.

A provider package registers through ember-ai's pluggy hook
``ember_ai_providers()`` (see docs/routing.md), or directly with
``ModelRouter(providers={"name": MyProvider()})``.
"""

from __future__ import annotations

from .anthropic import AnthropicProvider
from .base import (
    ChatRequest,
    Delta,
    FailureClass,
    Provider,
    ProviderError,
    ToolCallDelta,
    Usage,
)
from .local import LocalProvider
from .openai import OpenAIProvider


def builtin_providers() -> dict[str, Provider]:
    """The providers every router knows without any plugin."""
    return {
        "openai": OpenAIProvider(),
        # Any server speaking Chat Completions (vLLM, Ollama, LM Studio): same wire.
        "openai_compatible": OpenAIProvider(),
        "anthropic": AnthropicProvider(),
        "local": LocalProvider(),
    }


__all__ = [
    "AnthropicProvider",
    "ChatRequest",
    "Delta",
    "FailureClass",
    "LocalProvider",
    "OpenAIProvider",
    "Provider",
    "ProviderError",
    "ToolCallDelta",
    "Usage",
    "builtin_providers",
]
