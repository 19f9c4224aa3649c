"""The seed's "ModelRouter" sample (examples/seed_model_router.py) works as written."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import httpx
import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "seed_model_router.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("examples_seed_model_router", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def post_chat(module: ModuleType) -> httpx.Response:
    transport = httpx.ASGITransport(app=module.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ember") as client:
        return await client.post("/v1/chat", json={"message": "hi"})


def test_names_import_from_ember() -> None:
    from ember import ModelRouter, ModelSpec, RoutingStrategy
    from ember.ai import router

    assert (ModelRouter, ModelSpec, RoutingStrategy) == (
        router.ModelRouter,
        router.ModelSpec,
        router.RoutingStrategy,
    )


async def test_select_picks_the_first_model_under_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # choosing needs no key
    response = await post_chat(load())
    assert response.status_code == 200
    assert response.headers["x-ember-route-model"] == "gpt-4o-mini"
    assert response.headers["x-ember-route-strategy"] == "fallback"


async def test_select_falls_back_to_claude_haiku_when_the_first_rests() -> None:
    module = load()
    module.router.cool_down("gpt-4o-mini", 60)
    response = await post_chat(module)
    assert response.headers["x-ember-route-model"] == "claude-haiku"
    assert response.headers["x-ember-route-skipped"] == "gpt-4o-mini=cooldown"


async def test_the_handler_receives_the_apps_router() -> None:
    module = load()
    assert module.app.options["model_router"] is module.router
    assert (await module.router.select()).name == "gpt-4o-mini"


def test_keys_stay_out_of_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-seed-secret-value")
    module = load()
    assert "sk-seed-secret-value" not in repr(module.router.models)
    assert "sk-seed-secret-value" not in repr(module.router)
