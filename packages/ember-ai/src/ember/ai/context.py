"""Conversation history: ``Message``, ``MessageRole`` and ``ConversationContext``.

A ``ConversationContext`` is one session's history as a handler sees it during
one turn. ``ai_route`` loads it from the session store before the handler runs
and saves what the turn added when the turn ends; used on its own it is a plain
in-memory list of messages.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .tokens import count_messages, trim_messages
from .tools import ToolCall


class _Window(Protocol):
    """What trimming needs of a model (``ModelSpec`` has it)."""

    @property
    def context_window(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...


class MessageRole(enum.StrEnum):
    """Who wrote a message; the values are the OpenAI chat roles."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation. Immutable, so a snapshot stays a snapshot.

    An assistant message may carry ``tool_calls``; a ``TOOL`` message answers
    one of them and names it in ``tool_call_id``.
    """

    role: MessageRole
    content: str
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = field(default=())
    tool_call_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (how stores keep a message)."""
        data: dict[str, Any] = {"role": self.role.value, "content": self.content}
        if self.name is not None:
            data["name"] = self.name
        if self.tool_calls:
            data["tool_calls"] = [
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            data["tool_call_id"] = self.tool_call_id
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        return cls(
            role=MessageRole(data["role"]),
            content=data.get("content") or "",
            name=data.get("name"),
            tool_calls=tuple(
                ToolCall(c["id"], c["name"], c.get("arguments") or {})
                for c in data.get("tool_calls") or ()
            ),
            tool_call_id=data.get("tool_call_id"),
        )

    def to_openai(self) -> dict[str, Any]:
        """The message in the OpenAI Chat Completions request shape."""
        data: dict[str, Any] = {"role": self.role.value, "content": self.content}
        if self.name is not None and self.role is not MessageRole.TOOL:
            data["name"] = self.name
        if self.tool_calls:
            data["content"] = self.content or None
            data["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments_json()},
                }
                for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            data["tool_call_id"] = self.tool_call_id
        return data


class ConversationContext:
    """The message history of one session.

    ``get_messages()`` returns a new list each time (messages are immutable),
    so what a caller holds is unaffected by later ``add_message`` or ``clear``.
    """

    def __init__(self, session_id: str | None = None, messages: Iterable[Message] = ()) -> None:
        self.session_id = session_id
        self._messages: list[Message] = list(messages)
        # What the store already holds: the first `_saved` messages, unless
        # `clear()` ran this turn, in which case the whole list is rewritten.
        self._saved = len(self._messages)
        self._cleared = False

    def add_message(
        self,
        role: MessageRole | str,
        content: str,
        *,
        name: str | None = None,
        tool_calls: Iterable[ToolCall] = (),
        tool_call_id: str | None = None,
    ) -> Message:
        """Append a message and return it."""
        if not isinstance(content, str):
            raise TypeError(f"message content must be a str, not {type(content).__name__}")
        message = Message(MessageRole(role), content, name, tuple(tool_calls), tool_call_id)
        self._messages.append(message)
        return message

    def add(self, message: Message) -> Message:
        """Append an existing ``Message``."""
        self._messages.append(message)
        return message

    def get_messages(self) -> list[Message]:
        """A snapshot of the history, oldest first."""
        return list(self._messages)

    def clear(self) -> None:
        """Forget the whole history (the session itself stays)."""
        self._messages.clear()
        self._saved = 0
        self._cleared = True

    def count_tokens(self) -> int:
        """Tokens the history takes in a chat request (offline tiktoken count)."""
        return count_messages(self._messages)

    def trimmed(self, max_tokens: int) -> list[Message]:
        """The newest history that fits in ``max_tokens``.

        System messages are always kept; whole turns are dropped oldest first;
        an assistant tool call and its results are kept or dropped together.
        """
        return trim_messages(self._messages, max_tokens)

    def for_model(self, model: _Window | int, reserve: int | None = None) -> list[Message]:
        """The history that fits a model, leaving room for its reply.

        ``model`` is a ``ModelSpec`` (its ``context_window``, reserving its
        ``max_tokens`` unless ``reserve`` says otherwise) or a window size.
        """
        if isinstance(model, int):
            window, room = model, reserve or 0
        else:
            window, room = model.context_window, model.max_tokens if reserve is None else reserve
        return trim_messages(self._messages, max(window - room, 0))

    def to_openai(self) -> list[dict[str, Any]]:
        """The history as OpenAI chat ``messages``."""
        return [m.to_openai() for m in self._messages]

    # -- persistence bookkeeping, used by the session layer

    def pending(self) -> tuple[bool, list[Message]]:
        """``(replace, messages)``: what to write to the store.

        ``replace`` is true after ``clear()``: the store's list is rewritten
        with ``messages``; otherwise ``messages`` are appended to it.
        """
        if self._cleared:
            return True, list(self._messages)
        return False, self._messages[self._saved :]

    def mark_saved(self) -> None:
        self._saved = len(self._messages)
        self._cleared = False

    def __len__(self) -> int:
        return len(self._messages)

    def __iter__(self) -> Iterator[Message]:
        return iter(list(self._messages))

    def __repr__(self) -> str:
        return f"<ConversationContext session={self.session_id!r} messages={len(self)}>"


__all__ = ["ConversationContext", "Message", "MessageRole"]
