"""ToolRegistry.execute never raises: every failure is a ToolResult(is_error=True)."""

from __future__ import annotations

import asyncio
import enum
import threading
import time
from dataclasses import dataclass

import pytest
from ember.ai.tools import ToolCall, ToolError, ToolRegistry


class Units(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


@dataclass
class Point:
    lat: float
    lon: float


def registry() -> ToolRegistry:
    tools = ToolRegistry()

    @tools.register
    async def weather(city: str, units: Units = Units.CELSIUS) -> dict[str, object]:
        return {"city": city, "units": units}

    @tools.register
    def where(point: Point, tags: list[str] | None = None) -> str:
        return f"{type(point).__name__} {point.lat},{point.lon} {tags}"

    @tools.register
    async def broken() -> None:
        raise RuntimeError("password=hunter2 at /srv/app/db.py")

    @tools.register
    async def refuses(city: str) -> None:
        raise ToolError(f"No weather data for {city}.")

    @tools.register(timeout=0.05)
    async def slow() -> str:
        await asyncio.sleep(10)
        return "late"

    return tools


async def run(tools: ToolRegistry, name: str, arguments: object) -> tuple[str, bool]:
    result = await tools.execute(ToolCall("call_1", name, arguments))  # type: ignore[arg-type]
    assert result.tool_call_id == "call_1"
    return result.content, result.is_error


async def test_a_call_returns_json_of_the_result_with_enums_as_values() -> None:
    assert await run(registry(), "weather", {"city": "Oslo", "units": "fahrenheit"}) == (
        '{"city": "Oslo", "units": "fahrenheit"}',
        False,
    )


async def test_arguments_may_be_a_json_string_as_openai_sends_them() -> None:
    content, is_error = await run(registry(), "weather", '{"city": "Oslo"}')
    assert (content, is_error) == ('{"city": "Oslo", "units": "celsius"}', False)


async def test_dataclass_parameters_are_built_from_objects() -> None:
    content, is_error = await run(registry(), "where", {"point": {"lat": 1, "lon": 2.5}})
    assert (content, is_error) == ("Point 1.0,2.5 None", False)


async def test_an_unknown_tool_is_an_error_result_naming_the_tools() -> None:
    content, is_error = await run(registry(), "nope", {})
    assert is_error
    assert "Unknown tool 'nope'" in content
    assert "weather" in content


async def test_missing_arguments_are_an_error_result() -> None:
    content, is_error = await run(registry(), "weather", {})
    assert is_error
    assert "missing required argument(s): city" in content


async def test_extra_arguments_are_an_error_result() -> None:
    content, is_error = await run(registry(), "weather", {"city": "Oslo", "country": "NO"})
    assert is_error
    assert "unexpected argument(s): country" in content


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("weather", {"city": 3}, "city must be string, not integer"),
        ("weather", {"city": "Oslo", "units": "kelvin"}, 'units must be one of "celsius"'),
        ("where", {"point": {"lat": "north", "lon": 1}}, "point.lat must be number"),
        ("where", {"point": {"lat": 1}}, "point.lon is required"),
        ("where", {"point": {"lat": 1, "lon": 2}, "tags": [1]}, "wrong type"),
        ("weather", '{"city": ', "not valid JSON"),
        ("weather", "[1]", "must be a JSON object"),
    ],
)
async def test_wrongly_typed_arguments_are_an_error_result(
    name: str, arguments: object, message: str
) -> None:
    content, is_error = await run(registry(), name, arguments)
    assert is_error
    assert message in content


async def test_booleans_are_not_accepted_as_numbers() -> None:
    tools = ToolRegistry()

    @tools.register
    def add(a: int, b: float) -> float:
        return a + b

    assert (await run(tools, "add", {"a": True, "b": 1}))[1] is True
    assert await run(tools, "add", {"a": 1, "b": 2}) == ("3.0", False)


async def test_an_exception_in_a_tool_is_reported_without_its_internals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    content, is_error = await run(registry(), "broken", {})
    assert is_error
    assert content == "Tool 'broken' failed with an internal error."
    assert "hunter2" in caplog.text  # the operator still sees it in the logs


async def test_a_tool_error_message_is_shown_to_the_model() -> None:
    assert await run(registry(), "refuses", {"city": "Atlantis"}) == (
        "No weather data for Atlantis.",
        True,
    )


async def test_a_tool_that_overruns_its_timeout_is_an_error_result() -> None:
    content, is_error = await run(registry(), "slow", {})
    assert is_error
    assert content == "Tool 'slow' timed out after 0.05 seconds."


async def test_the_registry_default_timeout_applies_to_sync_tools_too() -> None:
    tools = ToolRegistry(default_timeout=0.05)
    release = threading.Event()

    @tools.register
    def blocking() -> str:
        release.wait(5)
        return "done"

    try:
        content, is_error = await run(tools, "blocking", {})
    finally:
        release.set()
    assert is_error
    assert "timed out" in content


async def test_sync_tools_run_in_a_worker_thread() -> None:
    tools = ToolRegistry()

    @tools.register
    def which_thread() -> bool:
        return threading.current_thread() is threading.main_thread()

    assert await run(tools, "which_thread", {}) == ("false", False)


async def test_execute_many_runs_calls_concurrently_and_keeps_their_order() -> None:
    tools = ToolRegistry()
    running = 0
    peak = 0

    @tools.register
    async def wait(ms: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(ms / 1000)
        running -= 1
        return ms

    @tools.register
    def sleepy(ms: int) -> int:
        time.sleep(ms / 1000)
        return ms

    calls = [ToolCall(f"c{i}", "wait", {"ms": ms}) for i, ms in enumerate([30, 10, 20])]
    calls.append(ToolCall("bad", "nope", {}))
    calls.append(ToolCall("s", "sleepy", {"ms": 5}))
    results = await tools.execute_many(calls)
    assert [r.tool_call_id for r in results] == ["c0", "c1", "c2", "bad", "s"]
    assert [r.content for r in results[:3]] == ["30", "10", "20"]
    assert results[3].is_error
    assert results[4].content == "5"
    assert peak == 3


async def test_a_result_that_is_not_json_is_an_error_result() -> None:
    tools = ToolRegistry()

    @tools.register
    def opaque() -> object:
        return object()

    content, is_error = await run(tools, "opaque", {})
    assert is_error
    assert "not JSON" in content
