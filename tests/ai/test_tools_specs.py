"""to_openai_specs()/to_anthropic_specs() checked against the official SDKs' types."""

from __future__ import annotations

import enum
import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

import anthropic.types
import openai.types.chat
import pydantic
from ember.ai.tools import ParameterSchema, ToolRegistry


class Color(enum.Enum):
    RED = "red"


@dataclass
class Box:
    width: int
    height: int = 1


def registry() -> ToolRegistry:
    tools = ToolRegistry()

    @tools.register(description="Get current weather for a city")
    async def get_weather(city: str, units: str = "celsius") -> dict[str, Any]:
        return {}

    @tools.register(
        name="search",
        description="Search the web for information",
        parameters=[
            ParameterSchema("query", "string", "Search query"),
            ParameterSchema("limit", "integer", "Max results", required=False),
        ],
    )
    async def search_web(query: str, limit: int = 5) -> list[Any]:
        return []

    @tools.register
    def paint(
        box: Box, color: Color, tags: list[str] | None = None, mode: Literal["a"] = "a"
    ) -> None:
        """Paint a box."""

    return tools


def _is_typeddict(kind: Any) -> bool:
    return isinstance(kind, type) and typing.is_typeddict(kind)


def assert_exact_typeddict(value: Any, kind: Any, where: str) -> None:
    """No key the SDK type lacks, every key it requires; nested TypedDicts too."""
    assert isinstance(value, dict), where
    hints = typing.get_type_hints(kind)
    extra = set(value) - set(hints)
    assert not extra, f"{where}: keys {extra} are not in {kind.__name__}"
    missing = set(kind.__required_keys__) - set(value)
    assert not missing, f"{where}: {kind.__name__} requires {missing}"
    for key, item in value.items():
        hint = hints[key]
        while get_origin(hint) in (typing.Required, typing.NotRequired, typing.Annotated):
            hint = get_args(hint)[0]
        if _is_typeddict(hint):
            assert_exact_typeddict(item, hint, f"{where}.{key}")


def test_openai_specs_match_the_openai_sdk_tool_param() -> None:
    specs = registry().to_openai_specs()
    kind = openai.types.chat.ChatCompletionFunctionToolParam
    adapter = pydantic.TypeAdapter(list[kind])  # type: ignore[valid-type]
    adapter.validate_python(specs, strict=True)
    for index, spec in enumerate(specs):
        assert_exact_typeddict(spec, kind, f"tools[{index}]")
        assert spec["type"] == "function"
        assert spec["function"]["parameters"]["type"] == "object"
    # The request parameter accepts the list as it is.
    union = pydantic.TypeAdapter(list[openai.types.chat.ChatCompletionToolUnionParam])
    union.validate_python(specs)


def test_anthropic_specs_match_the_anthropic_sdk_tool_param() -> None:
    specs = registry().to_anthropic_specs()
    kind = anthropic.types.ToolParam
    pydantic.TypeAdapter(list[kind]).validate_python(specs)  # type: ignore[valid-type]
    for index, spec in enumerate(specs):
        assert_exact_typeddict(spec, kind, f"tools[{index}]")
        assert spec["input_schema"]["type"] == "object"


def test_both_shapes_carry_the_same_schema() -> None:
    tools = registry()
    openai_specs = tools.to_openai_specs()
    anthropic_specs = tools.to_anthropic_specs()
    assert [s["function"]["name"] for s in openai_specs] == [s["name"] for s in anthropic_specs]
    assert [s["function"]["parameters"] for s in openai_specs] == [
        s["input_schema"] for s in anthropic_specs
    ]
