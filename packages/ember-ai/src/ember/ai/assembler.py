"""One assembler for streamed replies, whatever the provider.

Providers turn their wire fragments into ``Delta``s (OpenAI's
``tool_calls[index]`` pieces, Anthropic's ``tool_use`` block plus
``input_json_delta`` pieces); this module puts the pieces back together:
the text, each tool call with its complete arguments, the finish reason and
the usage.

Arguments are only parsed at the end, from the concatenated text: a fragment
may end anywhere, even in the middle of an escape like ``\\u00e9``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .providers.base import Delta, ToolCallDelta, Usage
from .tools import ToolCall


@dataclass(slots=True)
class _PartialCall:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Collects ``ToolCallDelta``s into whole ``ToolCall``s, in call order.

    Tolerates what real servers send: an ``index`` that repeats for several
    calls with different ids (a new id starts a new call), and continuation
    fragments with a negative index and no id (they continue the last call).
    """

    def __init__(self) -> None:
        self._calls: list[_PartialCall] = []
        self._by_index: dict[int, _PartialCall] = {}

    def add(self, delta: ToolCallDelta) -> None:
        call = self._by_index.get(delta.index) if delta.index >= 0 else None
        if call is None and delta.index < 0 and self._calls and delta.id is None:
            call = self._calls[-1]
        if call is None or (delta.id and call.id and delta.id != call.id):
            call = _PartialCall(delta.id or "", delta.name or "")
            self._calls.append(call)
            if delta.index >= 0:
                self._by_index[delta.index] = call
        else:
            if delta.id and not call.id:
                call.id = delta.id
            if delta.name and not call.name:
                call.name = delta.name
        if delta.arguments:
            call.arguments.append(delta.arguments)

    def __bool__(self) -> bool:
        return bool(self._calls)

    def calls(self) -> list[ToolCall]:
        """The complete calls. Arguments that are not valid JSON (a stream cut
        short) stay a string, so tool execution reports them as invalid."""
        out = []
        for number, call in enumerate(self._calls):
            raw = "".join(call.arguments)
            arguments: dict[str, Any] | str
            if not raw.strip():
                arguments = {}
            else:
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = raw
                arguments = parsed if isinstance(parsed, dict) else raw
            out.append(ToolCall(call.id or f"call_{number}", call.name, arguments))
        return out


class Assembler:
    """Folds a stream of ``Delta``s into the reply it spells."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._refusal: list[str] = []
        self.tools = ToolCallAssembler()
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    def add(self, delta: Delta) -> None:
        if delta.text:
            self._text.append(delta.text)
        if delta.refusal:
            self._refusal.append(delta.refusal)
        for call in delta.tool_calls:
            self.tools.add(call)
        if delta.finish_reason:
            self.finish_reason = delta.finish_reason
        if delta.usage is not None:
            self.usage = delta.usage

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def refusal(self) -> str:
        return "".join(self._refusal)

    def tool_calls(self) -> list[ToolCall]:
        return self.tools.calls()


__all__ = ["Assembler", "ToolCallAssembler"]
