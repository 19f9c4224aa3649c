"""Small helpers shared by the rate-limit tests."""

from __future__ import annotations

from typing import Any

import ember.ratelimit.plugin as ratelimit_plugin
from ember import Ember
from ember.testing import build_app


def make_app(**options: Any) -> Ember:
    """An app with ember-ratelimit as its only plugin."""
    return build_app(ratelimit_plugin, **options)


def chat_body(content: str = "hello", max_tokens: int | None = 20, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "gpt-4", "messages": [{"role": "user", "content": content}]}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    body.update(extra)
    return body


# "hello" as one user message: 3 (message) + 1 ("user") + 1 ("hello") + 3 (reply priming).
HELLO_PROMPT_TOKENS = 8
