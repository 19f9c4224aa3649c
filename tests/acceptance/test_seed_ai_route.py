"""The seed's "ai_route() — Full AI Endpoint" sample behaves as its curl line says."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType

import httpx
import pytest
from servers import ROOT, uvicorn_server

TIMEOUT = httpx.Timeout(20.0)


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"examples_{name}", ROOT / "examples" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with uvicorn_server("seed_ai_route:app") as url:
        yield url


def tokens(body: str) -> list[str]:
    return [
        line.removeprefix("data: ")
        for block in body.split("\n\n")
        for line in block.splitlines()
        if line.startswith("data: ") and "event: " not in block
    ]


def test_the_curl_line_streams_the_fake_llm_reply(server: str) -> None:
    with httpx.stream(
        "POST",
        f"{server}/v1/chat",
        json={"message": "What is Python?"},
        timeout=TIMEOUT,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert len(response.headers["x-session-id"]) == 32
        body = response.read().decode()
    assert "".join(tokens(body)) == "Sure! You asked about: What is Python? "
    assert body.rstrip().endswith("event: done\ndata: [DONE]")


async def test_the_conversation_is_remembered_per_session() -> None:
    module = load_example("seed_ai_route")
    from ember.ai.routes import session_store

    transport = httpx.ASGITransport(app=module.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = await client.post("/v1/chat", json={"message": "What is Python?"})
        session = first.headers["x-session-id"]
        await client.post(
            "/v1/chat", json={"message": "And Rust?"}, headers={"X-Session-ID": session}
        )
    history = await session_store(module.app).load(session)
    assert history is not None
    assert [(m.role.value, m.content) for m in history] == [
        ("user", "What is Python?"),
        ("assistant", "Sure! You asked about: What is Python? "),
        ("user", "And Rust?"),
        ("assistant", "Sure! You asked about: And Rust? "),
    ]
    sys.modules.pop("examples_seed_ai_route", None)
