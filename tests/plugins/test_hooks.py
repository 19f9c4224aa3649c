"""One test per hookspec, named ``test_hook_<hook name>``, showing what it does.

``test_hookspecs_documented.py`` checks that every hookspec has one. Plugins
here are small classes registered on one app through ``plugins=[...]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy
import pytest
from ember import (
    AppOption,
    ConfigError,
    Ember,
    HTTPError,
    Injectable,
    JSONResponse,
    Request,
    Response,
    RouteDecorator,
    RouteOption,
    StartupError,
    hookimpl,
)
from ember.testing import build_app
from servers import client_for

# ------------------------------------------------------------ ember_add_hookspecs


class GreetingSpecs:
    """A plugin's own hook, as ember-ai adds its provider hooks."""

    @pluggy.HookspecMarker("ember")
    def ember_greeting(self, name: str) -> str:  # type: ignore[empty-body]
        """Return a greeting for ``name``."""


class AddsGreetingSpecs:
    @hookimpl
    def ember_add_hookspecs(self, plugin_manager: pluggy.PluginManager) -> None:
        plugin_manager.add_hookspecs(GreetingSpecs)


class ImplementsGreeting:
    @hookimpl
    def ember_greeting(self, name: str) -> str:
        return f"hello {name}"


def test_hook_ember_add_hookspecs() -> None:
    # The implementation is registered before the spec exists: the hook is
    # historic, so the spec still arrives and the implementation is validated.
    app = build_app(ImplementsGreeting(), AddsGreetingSpecs())

    assert app.plugin_manager.hook.ember_greeting(name="ada") == ["hello ada"]


def test_implementing_a_hook_nobody_adds_fails() -> None:
    with pytest.raises(pluggy.PluginValidationError, match="ember_greeting"):
        build_app(ImplementsGreeting())


# ------------------------------------------------------------ ember_app_options


class TimeoutOption:
    @hookimpl
    def ember_app_options(self) -> list[AppOption]:
        return [AppOption("timeout", default=30.0, validate=float, doc="seconds")]


def test_hook_ember_app_options() -> None:
    assert build_app(TimeoutOption(), timeout="2.5").options["timeout"] == 2.5
    assert build_app(TimeoutOption()).options["timeout"] == 30.0


def test_invalid_option_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="timeout"):
        build_app(TimeoutOption(), timeout="soon")


# ------------------------------------------------------------ ember_route_options


class AudienceOption:
    @hookimpl
    def ember_route_options(self) -> list[RouteOption]:
        return [RouteOption("audience", doc="who may call the route")]


def test_hook_ember_route_options() -> None:
    app = build_app(AudienceOption())

    route = app.add_route("/", lambda: "ok", audience="staff")

    assert route.options == {"audience": "staff"}


def test_undeclared_route_option_is_a_config_error() -> None:
    app = build_app()

    with pytest.raises(ConfigError, match="audience"):
        app.add_route("/", lambda: "ok", audience="staff")


# ------------------------------------------------------------ ember_route_decorators


class ShoutRoute:
    @hookimpl
    def ember_route_decorators(self, app: Ember) -> list[RouteDecorator]:
        def shout_route(path: str) -> Callable[[Any], Any]:
            def decorator(handler: Callable[[], str]) -> Callable[[], str]:
                app.add_route(path, lambda: handler().upper())
                return handler

            return decorator

        return [RouteDecorator("shout_route", shout_route)]


async def test_hook_ember_route_decorators() -> None:
    app = build_app(ShoutRoute())

    @app.shout_route("/")
    def index() -> str:
        return "quiet"

    async with client_for(app) as client:
        assert (await client.get("/")).text == "QUIET"


# ------------------------------------------------------------ ember_injectables


class Clock:
    def now(self) -> str:
        return "noon"


class Injects:
    @hookimpl
    def ember_injectables(self, app: Ember) -> list[Injectable]:
        async def user(request: Request) -> str:
            return request.headers.get("x-user", "anonymous")

        return [
            Injectable("clock", lambda request: Clock(), Clock),
            Injectable("user", user),
        ]


async def test_hook_ember_injectables() -> None:
    app = build_app(Injects())

    @app.get("/")
    async def index(c: Clock, user: str) -> dict[str, str]:
        return {"time": c.now(), "user": user}

    async with client_for(app) as client:
        response = await client.get("/", headers={"x-user": "ada"})

    assert response.json() == {"time": "noon", "user": "ada"}


def test_a_parameter_nothing_injects_fails_at_registration() -> None:
    app = build_app()

    with pytest.raises(ConfigError, match="'clock'"):
        app.add_route("/", lambda clock: "ok")


# ------------------------------------------------------------ ember_wrap_endpoint


class TagsResponses:
    """Wraps only routes registered with ``tag=...``."""

    def __init__(self, header: str) -> None:
        self.header = header

    @hookimpl
    def ember_route_options(self) -> list[RouteOption]:
        return [RouteOption(self.header)]

    @hookimpl
    def ember_wrap_endpoint(self, route: Any, endpoint: Any) -> Any:
        value = route.options.get(self.header)
        if value is None:
            return None

        async def tagged(request: Request) -> Response:
            response: Response = await endpoint(request)
            response.headers[f"x-{self.header}"] = value
            response.headers["x-order"] = response.headers.get("x-order", "") + self.header
            return response

        return tagged


async def test_hook_ember_wrap_endpoint() -> None:
    app = build_app(TagsResponses("tag"))
    app.add_route("/tagged", lambda: "ok", tag="blue")
    app.add_route("/plain", lambda: "ok")

    async with client_for(app) as client:
        assert (await client.get("/tagged")).headers["x-tag"] == "blue"
        assert "x-tag" not in (await client.get("/plain")).headers


async def test_endpoint_wrappers_nest_in_registration_order() -> None:
    # The first plugin wraps first, so it is innermost and finishes first.
    app = build_app(TagsResponses("a"), TagsResponses("b"))
    app.add_route("/", lambda: "ok", a="1", b="2")

    async with client_for(app) as client:
        assert (await client.get("/")).headers["x-order"] == "ab"


# ------------------------------------------------------------ ember_middleware


def recording(label: str, seen: list[str]) -> Callable[[Any], Any]:
    def middleware(inner: Any) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(label)
            await inner(scope, receive, send)

        return app

    return middleware


class AddsMiddleware:
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    @hookimpl
    def ember_middleware(self, app: Ember) -> list[Any]:
        return [recording("plugin", self.seen)]


async def test_hook_ember_middleware() -> None:
    seen: list[str] = []
    app = build_app(AddsMiddleware(seen))
    app.add_middleware(recording("user", seen))
    app.add_route("/", lambda: "ok")

    async with client_for(app) as client:
        assert (await client.get("/")).text == "ok"

    assert seen == ["user", "plugin"]  # plugin middleware sits inside the user's


# ------------------------------------------------------------ ember_startup / ember_shutdown


class Lifecycle:
    def __init__(self, events: list[str]) -> None:
        self.events = events

    @hookimpl
    def ember_startup(self, app: Ember) -> Callable[[], Any]:
        async def open_pool() -> None:
            self.events.append("plugin startup")
            app.state.pool = "open"

        return open_pool

    @hookimpl
    def ember_shutdown(self, app: Ember) -> Callable[[], Any]:
        async def close_pool() -> None:
            self.events.append("plugin shutdown")

        return close_pool


async def test_hook_ember_startup() -> None:
    events: list[str] = []
    app = build_app(Lifecycle(events))
    app.on_startup(lambda: events.append(f"user startup sees {app.state.pool}"))

    async with client_for(app):
        assert events == ["plugin startup", "user startup sees open"]


async def test_startup_error_stops_the_server_with_just_its_message() -> None:
    class NeedsConfig:
        @hookimpl
        def ember_startup(self, app: Ember) -> Callable[[], Any]:
            async def check() -> None:
                raise StartupError("DATABASE_URL is not set")

            return check

    app = build_app(NeedsConfig())
    incoming = [{"type": "lifespan.startup"}]
    sent: list[Any] = []

    async def receive() -> Any:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)

    assert sent == [{"type": "lifespan.startup.failed", "message": "DATABASE_URL is not set"}]


async def test_hook_ember_shutdown() -> None:
    events: list[str] = []
    app = build_app(Lifecycle(events))
    app.on_shutdown(lambda: events.append("user shutdown"))

    async with client_for(app):
        events.clear()

    assert events == ["user shutdown", "plugin shutdown"]


# ------------------------------------------------------------ ember_handle_exception


class TeapotOnLookupError:
    @hookimpl
    def ember_handle_exception(self, request: Request, exc: Exception) -> Response | None:
        if isinstance(exc, LookupError):
            return JSONResponse({"missing": str(exc)}, status_code=418)
        return None


async def test_hook_ember_handle_exception() -> None:
    app = build_app(TeapotOnLookupError())

    def lookup() -> str:
        raise KeyError("thing")

    def other() -> str:
        raise RuntimeError("boom")

    def refused() -> str:
        raise HTTPError(403, "no")

    app.add_route("/lookup", lookup)
    app.add_route("/other", other)
    app.add_route("/refused", refused)

    async with client_for(app) as client:
        handled = await client.get("/lookup")
        unhandled = await client.get("/other")
        refused_response = await client.get("/refused")

    assert (handled.status_code, handled.json()) == (418, {"missing": "'thing'"})
    assert unhandled.status_code == 500
    assert unhandled.json()["error"]["type"] == "server_error"
    assert refused_response.status_code == 403  # HTTPError never reaches the hook


class AnswersEverything:
    def __init__(self, status: int) -> None:
        self.status = status

    @hookimpl
    def ember_handle_exception(self, request: Request, exc: Exception) -> Response:
        return JSONResponse({"by": self.status}, status_code=self.status)


async def test_first_registered_plugin_to_answer_an_exception_wins() -> None:
    app = build_app(TeapotOnLookupError(), AnswersEverything(503), AnswersEverything(502))

    def lookup() -> str:
        raise KeyError("thing")

    def other() -> str:
        raise RuntimeError("boom")

    app.add_route("/lookup", lookup)
    app.add_route("/other", other)

    async with client_for(app) as client:
        assert (await client.get("/lookup")).status_code == 418
        assert (await client.get("/other")).status_code == 503
