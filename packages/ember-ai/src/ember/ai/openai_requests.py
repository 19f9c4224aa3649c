"""Checking a Chat Completions request body before any model is called.

The gateway answers a malformed request as OpenAI's API does: a ``400
invalid_request_error`` whose ``param`` names the field (``messages[1].tool_calls[0]``).
Checking here, not in the providers, means every provider behind the gateway
sees only well-formed messages and tools, and a wrong value is never silently
ignored by one provider (the local model) and refused by another. Fields the
gateway does not know are passed on and left to the provider.
"""

from __future__ import annotations

import re
from typing import Any

from ember.errors import HTTPError

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
# Sampling parameters and OpenAI's ranges for them.
NUMBER_RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOOL_CHOICES = frozenset({"none", "auto", "required"})


def invalid(message: str, param: str | None = None) -> HTTPError:
    return HTTPError(
        400, message, type="invalid_request_error", code="invalid_request", param=param
    )


def positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not _is_int(value) or value < 1:
        raise invalid(f"'{name}' must be a positive integer.", name)
    return int(value)


def check_chat_request(body: Any) -> dict[str, Any]:
    """``body`` if it is a well-formed Chat Completions request; else the 400."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    if not isinstance(body.get("model", ""), str):
        raise invalid("'model' must be a string.", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("'messages' must be a non-empty array of messages.", "messages")
    for number, message in enumerate(messages):
        _check_message(message, f"messages[{number}]")
    tool_names = _check_tools(body.get("tools"))
    _check_tool_choice(body.get("tool_choice"), tool_names)
    positive_int(body, "max_tokens")
    positive_int(body, "max_completion_tokens")
    if body.get("n", 1) != 1:
        raise invalid("Only n=1 is supported.", "n")
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise invalid("'stream' must be a boolean.", "stream")
    if body.get("stream_options") is not None and not isinstance(body["stream_options"], dict):
        raise invalid("'stream_options' must be an object.", "stream_options")
    for name, (low, high) in NUMBER_RANGES.items():
        value = body.get(name)
        if value is not None and (not _is_number(value) or not low <= value <= high):
            raise invalid(f"'{name}' must be a number from {low:g} to {high:g}.", name)
    if body.get("seed") is not None and not _is_int(body["seed"]):
        raise invalid("'seed' must be an integer.", "seed")
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str)
        or (isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop))
    ):
        raise invalid("'stop' must be a string or an array of at most 4 strings.", "stop")
    return body


def _check_message(message: Any, where: str) -> None:
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        raise invalid(
            f"{where} must be an object whose 'role' is one of {', '.join(sorted(ROLES))}.",
            where,
        )
    role = message["role"]
    content = message.get("content")
    calls = message.get("tool_calls")
    answered_otherwise = calls or message.get("refusal") or message.get("function_call")
    if content is None and not (role == "assistant" and answered_otherwise):
        raise invalid(f"{where}.content is required for a {role} message.", f"{where}.content")
    if content is not None:
        _check_content(content, f"{where}.content")
    if message.get("name") is not None and not isinstance(message["name"], str):
        raise invalid(f"{where}.name must be a string.", f"{where}.name")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise invalid(
            f"{where}.tool_call_id must be the id of the tool call answered.",
            f"{where}.tool_call_id",
        )
    if calls is not None:
        if role != "assistant" or not isinstance(calls, list):
            raise invalid(
                f"{where}.tool_calls must be an array, on an assistant message.",
                f"{where}.tool_calls",
            )
        for index, call in enumerate(calls):
            _check_tool_call(call, f"{where}.tool_calls[{index}]")


def _check_content(content: Any, where: str) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise invalid(f"{where} must be a string or an array of content parts.", where)
    for index, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise invalid(f"{where}[{index}] must be an object with a 'type'.", f"{where}[{index}]")
        if part["type"] in ("text", "refusal"):
            field = part["type"]
            if not isinstance(part.get(field), str):
                raise invalid(
                    f"{where}[{index}].{field} must be a string.", f"{where}[{index}].{field}"
                )


def _check_tool_call(call: Any, where: str) -> None:
    function = call.get("function") if isinstance(call, dict) else None
    if (
        not isinstance(function, dict)
        or not isinstance(call.get("id"), str)
        or not isinstance(function.get("name"), str)
        or not isinstance(function.get("arguments"), str)
    ):
        raise invalid(
            f"{where} must be {{'id', 'type': 'function', 'function': {{'name', 'arguments'}}}} "
            "with string values.",
            where,
        )


def _check_tools(tools: Any) -> set[str]:
    if tools is None:
        return set()
    if not isinstance(tools, list):
        raise invalid("'tools' must be an array of function tools.", "tools")
    names: set[str] = set()
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type", "function") != "function":
            raise invalid(f"{where} must be a function tool.", where)
        name = function.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            raise invalid(
                f"{where}.function.name must be 1 to 64 letters, digits, '_' or '-'.",
                f"{where}.function.name",
            )
        for field, kind in (("description", str), ("parameters", dict), ("strict", bool)):
            if function.get(field) is not None and not isinstance(function[field], kind):
                raise invalid(
                    f"{where}.function.{field} must be a {_KIND_NAMES[kind]}.",
                    f"{where}.function.{field}",
                )
        names.add(name)
    return names


def _check_tool_choice(choice: Any, tool_names: set[str]) -> None:
    if choice is None:
        return
    if isinstance(choice, str) and choice in TOOL_CHOICES:
        if choice == "required" and not tool_names:
            raise invalid("'tool_choice' is 'required' but no 'tools' are given.", "tool_choice")
        return
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise invalid(
            "'tool_choice' must be 'none', 'auto', 'required' or "
            "{'type': 'function', 'function': {'name': ...}}.",
            "tool_choice",
        )
    if name not in tool_names:
        raise invalid(f"'tool_choice' names '{name}', which is not in 'tools'.", "tool_choice")


_KIND_NAMES = {str: "string", dict: "JSON Schema object", bool: "boolean"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


__all__ = ["check_chat_request", "invalid", "positive_int"]
