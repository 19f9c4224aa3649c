"""ToolRegistry schemas: from type hints, docstrings, or explicit ParameterSchemas."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal, Optional, TypedDict

import pytest
from ember.ai.tools import ParameterSchema, ToolRegistry, json_schema, parse_docstring


def parameters(registry: ToolRegistry, name: str) -> dict[str, Any]:
    tool = registry.get(name)
    assert tool is not None
    return tool.parameters


class Units(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


@dataclass
class Point:
    """A place.

    Args:
        lat: Latitude in degrees.
    """

    lat: float
    lon: float
    label: str = ""


class Filters(TypedDict, total=False):
    tag: str
    year: int


def test_scalars_map_to_json_types() -> None:
    assert json_schema(str) == {"type": "string"}
    assert json_schema(int) == {"type": "integer"}
    assert json_schema(float) == {"type": "number"}
    assert json_schema(bool) == {"type": "boolean"}
    assert json_schema(Any) == {}


def test_containers_map_to_arrays_and_objects() -> None:
    assert json_schema(list[int]) == {"type": "array", "items": {"type": "integer"}}
    assert json_schema(tuple[str, ...]) == {"type": "array", "items": {"type": "string"}}
    assert json_schema(dict[str, float]) == {
        "type": "object",
        "additionalProperties": {"type": "number"},
    }
    assert json_schema(dict) == {"type": "object"}


def test_optional_is_nullable_and_unions_are_any_of() -> None:
    assert json_schema(Optional[int]) == {"type": ["integer", "null"]}  # noqa: UP045
    assert json_schema(str | None) == {"type": ["string", "null"]}
    assert json_schema(list[int] | str) == {
        "anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "string"}]
    }


def test_literal_and_enum_become_enums() -> None:
    assert json_schema(Literal["a", "b"]) == {"type": "string", "enum": ["a", "b"]}
    assert json_schema(Units) == {"type": "string", "enum": ["celsius", "fahrenheit"]}


def test_dataclasses_and_typeddicts_become_objects() -> None:
    assert json_schema(Point) == {
        "type": "object",
        "properties": {
            "lat": {"type": "number", "description": "Latitude in degrees."},
            "lon": {"type": "number"},
            "label": {"type": "string"},
        },
        "required": ["lat", "lon"],
        "additionalProperties": False,
    }
    assert json_schema(Filters) == {
        "type": "object",
        "properties": {"tag": {"type": "string"}, "year": {"type": "integer"}},
        "required": [],
        "additionalProperties": False,
    }


def test_an_undescribable_type_is_refused_at_registration() -> None:
    registry = ToolRegistry()
    with pytest.raises(ValueError, match="ParameterSchema"):

        @registry.register
        def bad(value: complex) -> None: ...


def test_defaults_make_parameters_optional_and_are_shown() -> None:
    registry = ToolRegistry()

    @registry.register
    def weather(city: str, units: Units = Units.CELSIUS, days: int = 1) -> None:
        """Weather for a city."""

    assert parameters(registry, "weather") == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "units": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "default": 1},
        },
        "required": ["city"],
    }


def test_google_docstrings_give_the_description_and_parameter_texts() -> None:
    registry = ToolRegistry()

    @registry.register
    def search(query: str, limit: int = 5) -> list[str]:
        """Search the web
        for pages.

        More detail that models need not see.

        Args:
            query (str): What to look for,
                in plain words.
            limit: How many results.

        Returns:
            Titles.
        """
        return []

    tool = registry.get("search")
    assert tool is not None
    assert tool.description == "Search the web for pages."
    assert tool.parameters["properties"]["query"]["description"] == (
        "What to look for, in plain words."
    )
    assert tool.parameters["properties"]["limit"]["description"] == "How many results."


def test_rest_docstrings_give_parameter_texts() -> None:
    summary, params = parse_docstring(
        "Convert money.\n\n:param amount: How much.\n:param str currency: ISO code.\n:returns: x"
    )
    assert summary == "Convert money."
    assert params == {"amount": "How much.", "currency": "ISO code."}


def test_an_explicit_description_wins_over_the_docstring() -> None:
    registry = ToolRegistry()

    @registry.register(description="Explicit.")
    def tool(x: int) -> int:
        """From the docstring."""
        return x

    assert registry.to_openai_specs()[0]["function"]["description"] == "Explicit."


def test_explicit_parameter_schemas_are_used_as_given() -> None:
    registry = ToolRegistry()

    @registry.register(
        name="search",
        description="Search the web for information",
        parameters=[
            ParameterSchema("query", "string", "Search query"),
            ParameterSchema("limit", "integer", "Max results", required=False),
            ParameterSchema("mode", "string", enum=["fast", "deep"], required=False),
        ],
    )
    async def search_web(query: str, limit: int = 5, mode: str = "fast") -> list[str]:
        return []

    assert parameters(registry, "search") == {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "Search query"},
            "limit": {"type": "integer", "description": "Max results"},
            "mode": {"type": "string", "enum": ["fast", "deep"]},
        },
        "required": ["query"],
    }


def test_parameter_schemas_must_match_the_function() -> None:
    registry = ToolRegistry()
    with pytest.raises(ValueError, match="not parameters of"):
        registry.register(name="x", parameters=[ParameterSchema("nope", "string")])(
            lambda query: None
        )
    with pytest.raises(ValueError, match="no ParameterSchema describes"):

        @registry.register(parameters=[])
        def needs(query: str) -> None: ...

    with pytest.raises(ValueError, match="type 'text'"):

        @registry.register(parameters=[ParameterSchema("q", "text")])
        def typo(q: str) -> None: ...


def test_names_must_be_valid_and_unique() -> None:
    registry = ToolRegistry()

    @registry.register
    def lookup() -> None: ...

    with pytest.raises(ValueError, match="registered already"):
        registry.register(name="lookup")(lambda: None)
    with pytest.raises(ValueError, match="1-64"):
        registry.register(name="has space")(lambda: None)


def test_register_returns_the_function_unchanged() -> None:
    registry = ToolRegistry()

    def double(x: int) -> int:
        return 2 * x

    assert registry.register(double) is double
    assert double(2) == 4
    assert "double" in registry
    assert len(registry) == 1
