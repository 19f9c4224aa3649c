"""ember-ai's hook implementations: how the AI layer plugs into Ember.

Nothing here runs per request: options are declared, ``app.ai_route`` is
attached, and each ai_route's endpoint is wrapped once, at registration.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import pluggy
from ember import hookimpl
from ember.records import AppOption, Export, RouteDecorator, RouteOption

from . import hookspecs, routes
from .sessions import SessionStore

if TYPE_CHECKING:
    from ember.app import Ember
    from ember.routing import Endpoint, Route


@hookimpl
def ember_add_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    plugin_manager.add_hookspecs(hookspecs)


def _router(value: Any) -> Any:
    from .router import ModelRouter

    if value is not None and not isinstance(value, ModelRouter):
        raise TypeError(f"model_router must be a ModelRouter, not {type(value).__name__}")
    return value


def _store(value: Any) -> Any:
    if value is not None and not isinstance(value, SessionStore):
        raise TypeError(
            "session_store must be a session store such as MemorySessionStore() or "
            f"RedisSessionStore(url), not {type(value).__name__}"
        )
    return value


def _header(value: Any) -> str:
    if not isinstance(value, str) or not value or not value.isascii() or " " in value:
        raise ValueError(f"session_header must be a header name, not {value!r}")
    return value


def _seconds(value: Any) -> float:
    if not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"session_lock_wait must be a positive number of seconds, not {value!r}")
    return float(value)


def _grace(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"resume_grace must be seconds (>= 0) or None, not {value!r}")
    return float(value)


@hookimpl
def ember_app_options() -> Iterable[AppOption]:
    return [
        AppOption("model_router", None, _router, "the ModelRouter ai_route handlers receive"),
        AppOption(
            "session_store", None, _store, "where sessions live (default: MemorySessionStore())"
        ),
        AppOption("session_header", "X-Session-ID", _header, "the header carrying session ids"),
        AppOption(
            "session_lock_wait", 30.0, _seconds, "how long a turn waits for its session's lock"
        ),
        AppOption(
            "resume_grace",
            15.0,
            _grace,
            "seconds a streamed reply goes on after its client disconnects, waiting for a "
            "resume (None: always to its end)",
        ),
    ]


@hookimpl
def ember_route_options() -> Iterable[RouteOption]:
    return [RouteOption("ai_route", "set by app.ai_route: marks the route as an AI route")]


@hookimpl
def ember_route_decorators(app: Ember) -> Iterable[RouteDecorator]:
    app.state.ember_ai = routes.make_settings(app)
    router = app.options.get("model_router")
    if router is not None:  # providers that plugins of this app register
        router.add_providers_from(app.plugin_manager)
        app.on_shutdown(router.aclose)  # its pooled upstream connections
    return [RouteDecorator("ai_route", routes.make_ai_route(app), "register an AI endpoint")]


@hookimpl
def ember_wrap_endpoint(app: Ember, route: Route, endpoint: Endpoint) -> Endpoint | None:
    if route.options.get("ai_route") is None:
        return None
    return routes.wrap(app, route, endpoint)


@hookimpl(specname="ember_wrap_endpoint")
def ember_wrap_endpoint_route_headers(
    app: Ember, route: Route, endpoint: Endpoint
) -> Endpoint | None:
    # Kept apart from the session wrapper above: it only adds the
    # x-ember-route-* headers once a handler has routed the request.
    if route.options.get("ai_route") is None:
        return None
    from .router import with_route_headers

    return with_route_headers(endpoint)


@hookimpl
def ember_shutdown(app: Ember) -> Callable[[], Awaitable[None]] | None:
    if getattr(app.state, "ember_ai", None) is None:
        return None

    async def stop() -> None:
        await routes.shutdown(app)

    return stop


@hookimpl
def ember_exports() -> Iterable[Export]:
    return [
        Export("ConversationContext", "ember.ai.context:ConversationContext"),
        Export("Message", "ember.ai.context:Message"),
        Export("MessageRole", "ember.ai.context:MessageRole"),
        Export("sse_stream", "ember.ai.streams:sse_stream"),
        Export("ToolRegistry", "ember.ai.tools:ToolRegistry"),
        Export("ModelRouter", "ember.ai.router:ModelRouter"),
        Export("ModelSpec", "ember.ai.router:ModelSpec"),
        Export("RoutingStrategy", "ember.ai.router:RoutingStrategy"),
    ]
