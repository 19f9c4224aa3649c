"""The seed's "ConversationContext" and "ToolRegistry" samples do what their comments say."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from types import ModuleType

import httpx
from servers import ROOT


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"examples_{name}", ROOT / "examples" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_conversation_context_sample_keeps_a_snapshot_and_clears() -> None:
    from ember import Message, MessageRole

    module = load_example("seed_conversation_context")
    assert all(isinstance(m, Message) for m in module.messages)
    assert [(m.role, m.content) for m in module.messages] == [
        (MessageRole.USER, "Hello"),
        (MessageRole.ASSISTANT, "Hi there!"),
        (MessageRole.SYSTEM, "You are a helpful assistant."),
    ]
    assert module.context.get_messages() == []


async def test_tool_registry_execute_gives_the_documented_content() -> None:
    module = load_example("seed_tool_registry")
    result = await module.main()
    assert result.content == '{"city": "Paris", "temperature": 22, "units": "celsius"}'
    assert result.is_error is False


def test_tool_registry_sample_prints_what_its_comments_say() -> None:
    output = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "seed_tool_registry.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert output.splitlines() == [
        '{"city": "Paris", "temperature": 22, "units": "celsius"}',
        "False",
    ]


def test_tool_registry_specs_have_both_tools() -> None:
    module = load_example("seed_tool_registry")
    openai_specs = module.tools.to_openai_specs()
    anthropic_specs = module.tools.to_anthropic_specs()
    assert [s["function"]["name"] for s in openai_specs] == ["get_weather", "search"]
    assert [s["name"] for s in anthropic_specs] == ["get_weather", "search"]
    assert anthropic_specs[1]["input_schema"]["required"] == ["query"]


async def test_the_route_with_a_tool_registry_serves() -> None:
    module = load_example("seed_tool_registry")
    transport = httpx.ASGITransport(app=module.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/v1/chat")
    assert response.status_code == 200
    assert len(response.headers["x-session-id"]) == 32
