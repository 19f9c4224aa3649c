"""What every provider speaks: one request shape in, one delta shape out.

Requests are in the OpenAI Chat Completions shape (``messages``, ``tools``),
the lingua franca of LLM APIs; a provider for another API translates. Replies
come back as a stream of ``Delta``s, whatever the provider, and failures as a
``ProviderError`` carrying a ``FailureClass`` the router decides on.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import httpx

    from ..router import ModelSpec


class FailureClass(enum.StrEnum):
    """Why a call failed, as far as choosing what to do next is concerned."""

    CONNECT = "connect_error"
    TIMEOUT = "timeout"
    RATE_LIMIT = "rate_limit"
    SERVER = "server_error"
    CONTEXT_LENGTH = "context_length"
    CONTENT_POLICY = "content_policy"
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    STREAM = "stream_error"


class ProviderError(Exception):
    """A provider call failed. ``message`` never contains an API key."""

    def __init__(
        self,
        failure: FailureClass,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"ProviderError({self.failure.value}, {self.message!r}, status={self.status})"


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_openai(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of one tool call. The first fragment of a call carries its
    ``id`` and ``name``; later ones carry more ``arguments`` text (JSON split
    anywhere, even inside an escape)."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class Delta:
    """One step of a reply: text, tool-call fragments, and at the end the
    finish reason (OpenAI's values: stop, length, tool_calls, content_filter)
    and the exact usage."""

    text: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    # OpenAI's ``refusal``: the model's reason for not answering (structured
    # outputs), sent instead of text. It is the answer, so it commits a stream.
    refusal: str = ""

    @property
    def has_content(self) -> bool:
        return bool(self.text or self.tool_calls or self.refusal)


@dataclass(slots=True)
class ChatRequest:
    """A chat request in the OpenAI Chat Completions shape.

    ``params`` holds the other sampling options (``temperature``, ``top_p``,
    ``stop``, ``seed``...), passed on to OpenAI-style APIs as they are and
    mapped where another API has an equivalent.
    """

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    max_tokens: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    """Something that can answer a ``ChatRequest`` for a ``ModelSpec``.

    ``stream`` yields ``Delta``s and raises ``ProviderError``; closing the
    iterator early must close the upstream request (so an abandoned answer is
    not paid for). ``client`` is the router's shared, pooled httpx client.
    """

    name: str

    def stream(
        self, spec: ModelSpec, request: ChatRequest, client: httpx.AsyncClient
    ) -> AsyncIterator[Delta]: ...


def api_key_for(spec: ModelSpec) -> str | None:
    """The model's key from the environment; a missing one is an AUTH failure."""
    if not spec.api_key_env:
        return None
    key = spec.api_key()
    if not key:
        raise ProviderError(
            FailureClass.AUTH, f"environment variable {spec.api_key_env} is not set"
        )
    return key


def redact(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` masked, for upstream messages that echo a key."""
    if secret and len(secret) >= 4 and secret in text:
        return text.replace(secret, "***")
    return text


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` (or OpenAI's ``retry-after-ms``) in seconds, if given as a number."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None  # an HTTP date: rare from LLM APIs; the default cooldown applies
    return None


def failure_for_status(status: int) -> FailureClass:
    if status == 429:
        return FailureClass.RATE_LIMIT
    if status in (401, 403):
        return FailureClass.AUTH
    if status == 408:
        return FailureClass.TIMEOUT
    if status >= 500:
        return FailureClass.SERVER
    return FailureClass.BAD_REQUEST


__all__ = [
    "ChatRequest",
    "Delta",
    "FailureClass",
    "Provider",
    "ProviderError",
    "ToolCallDelta",
    "Usage",
    "api_key_for",
    "failure_for_status",
    "redact",
    "retry_after_seconds",
]
