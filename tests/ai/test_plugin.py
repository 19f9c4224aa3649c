"""ember-ai plugs in through the core's hooks only."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import ember
import ember.ai
import pytest
from ember import ConfigError, Ember
from ember.ai import routes

ROOT = Path(__file__).resolve().parents[2]


def test_the_seed_names_import_from_ember() -> None:
    from ember import ConversationContext, Message, MessageRole, ToolRegistry, sse_stream
    from ember.ai.tools import ParameterSchema, ToolCall, ToolResult

    assert ConversationContext is ember.ai.ConversationContext
    assert Message is ember.ai.Message
    assert MessageRole is ember.ai.MessageRole
    assert ToolRegistry is ember.ai.ToolRegistry
    assert sse_stream is ember.ai.sse_stream
    assert {ParameterSchema.__name__, ToolCall.__name__, ToolResult.__name__} == {
        "ParameterSchema",
        "ToolCall",
        "ToolResult",
    }


def test_the_router_names_import_from_ember() -> None:
    from ember import ModelRouter, ModelSpec, RoutingStrategy
    from ember.ai import router

    assert (ModelRouter, ModelSpec, RoutingStrategy) == (
        router.ModelRouter,
        router.ModelSpec,
        router.RoutingStrategy,
    )


def test_the_plugin_is_the_ai_entry_point_of_group_ember() -> None:
    found = [ep for ep in metadata.entry_points(group="ember") if ep.name == "ai"]
    assert [ep.value for ep in found] == ["ember.ai.plugin"]
    assert found[0].dist is not None and found[0].dist.name == "ember-ai"


def test_the_distribution_ships_no_ember_init() -> None:
    assert not (ROOT / "packages/ember-ai/src/ember/__init__.py").exists()
    assert (ROOT / "packages/ember-ai/src/ember/ai/py.typed").exists()


def test_ai_route_is_an_app_method_and_its_hook_is_registered() -> None:
    app = Ember()
    assert callable(app.ai_route)
    assert hasattr(app.plugin_manager.hook, "ember_ai_principal")
    assert "ai_route" in app.route_options


def test_ai_route_refuses_a_wrong_tool_registry() -> None:
    app = Ember()
    with pytest.raises(ConfigError, match="ToolRegistry"):
        app.ai_route("/x", tool_registry=[])  # type: ignore[arg-type]


def test_apps_have_separate_default_stores() -> None:
    assert routes.session_store(Ember()) is not routes.session_store(Ember())


def test_an_app_without_ai_routes_pays_nothing_per_request() -> None:
    app = Ember()

    @app.get("/plain")
    async def plain() -> dict[str, bool]:
        return {"ok": True}

    assert app.routes[0].endpoint.__name__ != "ai_endpoint"


class FakeLimits:
    """Stands in for ember-ratelimit: declares the token_limits route option."""

    @ember.hookimpl
    def ember_route_options(self):  # type: ignore[no-untyped-def]
        return [ember.RouteOption("token_limits", "test")]


def test_token_limits_is_passed_through_as_a_route_option() -> None:
    import ember.ai.plugin

    limits = object()
    app = Ember(load_entry_points=False, plugins=[ember.ai.plugin, FakeLimits()])

    @app.ai_route("/chat", token_limits=limits)
    async def chat(request: ember.Request) -> None: ...

    assert app.routes[0].options["token_limits"] is limits


def test_token_limits_without_a_plugin_that_enforces_them_is_refused() -> None:
    import ember.ai.plugin

    app = Ember(load_entry_points=False, plugins=[ember.ai.plugin])
    with pytest.raises(ConfigError, match="token_limits"):

        @app.ai_route("/chat", token_limits=object())
        async def chat(request: ember.Request) -> None: ...
