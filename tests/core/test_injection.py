"""Injection plans: each handler parameter's source is decided at registration."""

from __future__ import annotations

import threading

import pytest
from core_helpers import asgi_client, make_app
from ember import ConfigError, Ember, Injectable, Request, hookimpl


class Greeter:
    def __init__(self, word: str) -> None:
        self.word = word


async def _text(app: Ember, url: str = "/") -> str:
    async with asgi_client(app) as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    return response.text


async def test_a_parameter_named_request_gets_the_request() -> None:
    app = make_app()

    @app.get("/")
    async def handler(request):  # type: ignore[no-untyped-def]
        return f"{type(request).__name__} {request.method}"

    assert await _text(app) == "Request GET"


async def test_a_parameter_annotated_request_gets_it_whatever_its_name() -> None:
    app = make_app()

    @app.get("/")
    async def handler(incoming: Request) -> str:
        return incoming.path

    assert await _text(app) == "/"


async def test_path_parameters_are_passed_by_name_converted() -> None:
    app = make_app()

    @app.get("/add/{a:int}/{b:int}")
    async def add(b: int, a: int) -> str:
        return str(a - b)

    assert await _text(app, "/add/10/3") == "7"


async def test_a_handler_without_parameters_is_called() -> None:
    app = make_app()

    @app.get("/")
    async def handler() -> str:
        return "none needed"

    assert await _text(app) == "none needed"


async def test_an_injectable_matches_by_annotation() -> None:
    app = make_app()
    greeter = Injectable("greeter", lambda request: Greeter("hi"), Greeter)

    async def handler(anything: Greeter) -> str:
        return anything.word

    app.add_route("/", handler, injectables=[greeter])
    assert await _text(app) == "hi"


async def test_an_injectable_matches_by_name() -> None:
    app = make_app()
    greeter = Injectable("greeter", lambda request: Greeter("by name"), Greeter)

    async def handler(greeter) -> str:  # type: ignore[no-untyped-def]
        return str(greeter.word)

    app.add_route("/", handler, injectables=[greeter])
    assert await _text(app) == "by name"


async def test_an_async_provider_is_awaited() -> None:
    async def provide(request: Request) -> Greeter:
        return Greeter(f"async {request.method}")

    app = make_app()

    async def handler(greeter: Greeter) -> str:
        return greeter.word

    app.add_route("/", handler, injectables=[Injectable("greeter", provide, Greeter)])
    assert await _text(app) == "async GET"


async def test_a_plugin_injectable_reaches_every_route() -> None:
    class GreeterPlugin:
        @hookimpl
        def ember_injectables(self, app: Ember) -> list[Injectable]:
            return [Injectable("greeter", lambda request: Greeter("from plugin"), Greeter)]

    app = make_app(plugins=[GreeterPlugin()])

    @app.get("/")
    async def handler(greeter: Greeter) -> str:
        return greeter.word

    assert await _text(app) == "from plugin"


async def test_a_route_injectable_comes_before_the_apps() -> None:
    class GreeterPlugin:
        @hookimpl
        def ember_injectables(self, app: Ember) -> list[Injectable]:
            return [Injectable("greeter", lambda request: Greeter("app"), Greeter)]

    app = make_app(plugins=[GreeterPlugin()])

    async def handler(greeter: Greeter) -> str:
        return greeter.word

    route_own = Injectable("greeter", lambda request: Greeter("route"), Greeter)
    app.add_route("/", handler, injectables=[route_own])
    assert await _text(app) == "route"


async def test_a_parameter_with_a_default_and_no_source_keeps_its_default() -> None:
    app = make_app()

    @app.get("/")
    async def handler(request: Request, limit: int = 5) -> str:
        return str(limit)

    assert await _text(app) == "5"


def test_an_unresolvable_parameter_is_a_config_error_at_registration() -> None:
    app = make_app()

    async def handler(request: Request, contxt: object) -> None:
        return None

    with pytest.raises(ConfigError, match=r"cannot resolve parameter 'contxt'.*Available here"):
        app.add_route("/{item}", handler)


def test_the_config_error_names_the_available_sources() -> None:
    app = make_app()

    async def handler(missing: int) -> None:
        return None

    with pytest.raises(ConfigError) as caught:
        app.add_route("/{item}", handler)
    assert "item, request" in str(caught.value)


async def test_a_sync_handler_runs_in_a_worker_thread() -> None:
    app = make_app()
    loop_thread = threading.get_ident()

    @app.get("/")
    def handler(request: Request) -> str:
        return "worker" if threading.get_ident() != loop_thread else "event loop"

    assert await _text(app) == "worker"


async def test_a_sync_handler_gets_injected_parameters() -> None:
    app = make_app()

    @app.get("/items/{n:int}")
    def handler(n: int, request: Request) -> str:
        return f"{n} {request.method}"

    assert await _text(app, "/items/4") == "4 GET"


async def test_a_callable_object_with_async_call_is_awaited() -> None:
    class Handler:
        async def __call__(self, request: Request) -> str:
            return "object"

    app = make_app()
    app.add_route("/", Handler())
    assert await _text(app) == "object"


async def test_keyword_only_parameters_are_filled() -> None:
    app = make_app()

    @app.get("/kw/{name}")
    async def handler(request: Request, *, name: str) -> str:
        return name

    assert await _text(app, "/kw/zed") == "zed"
