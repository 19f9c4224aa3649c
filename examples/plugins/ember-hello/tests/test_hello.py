"""ember-hello's behaviour: each thing the plugin adds, proven through HTTP."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from ember import ConfigError, Ember, StreamingResponse
from ember.hello import Greeter, HelloHeaderMiddleware, plugin
from ember.testing import running

pytest_plugins = ["ember.testing"]


def test_entry_point_loads_the_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBER_LOAD_PLUGINS", "hello")
    app = Ember()
    [info] = [i for i in app.plugins if i.name == "hello"]
    assert (info.distribution, info.version) == ("ember-hello", "0.1.0")
    assert callable(app.hello_route)


def test_greeting_option_is_stored_and_defaults(make_app: Any) -> None:
    assert make_app(plugin, greeting="Howdy").options["greeting"] == "Howdy"
    assert make_app(plugin).options["greeting"] == "Hello"


def test_greeting_option_is_validated(make_app: Any) -> None:
    with pytest.raises(ConfigError, match="greeting must be a non-empty string"):
        make_app(plugin, greeting="")


def test_option_is_unknown_without_the_plugin(make_app: Any) -> None:
    with pytest.raises(TypeError, match="greeting"):
        make_app(greeting="Howdy")


async def test_hello_route_greets_the_returned_name(app: Ember, client: httpx.AsyncClient) -> None:
    @app.hello_route("/hello/{name}")
    def hello(name: str) -> str:
        return name.title()

    response = await client.get("/hello/ada")
    assert response.status_code == 200
    assert response.text == "Howdy, Ada!"


async def test_hello_route_handler_may_be_async(app: Ember, client: httpx.AsyncClient) -> None:
    @app.hello_route("/me")
    async def me() -> str:
        return "you"

    assert (await client.get("/me")).text == "Howdy, you!"


async def test_greeter_is_injected_by_annotation(app: Ember, client: httpx.AsyncClient) -> None:
    @app.get("/greet/{who}")
    async def greet(who: str, g: Greeter) -> dict[str, str]:
        return {"message": g.greet(who)}

    assert (await client.get("/greet/bob")).json() == {"message": "Howdy, bob!"}


async def test_greeter_is_injected_by_name(app: Ember, client: httpx.AsyncClient) -> None:
    @app.get("/")
    async def index(greeter: Any) -> str:  # no annotation to match: found by name
        return str(greeter.greet("world"))

    assert (await client.get("/")).text == "Howdy, world!"


async def test_middleware_adds_the_header(app: Ember, client: httpx.AsyncClient) -> None:
    @app.get("/")
    async def index() -> dict[str, bool]:
        return {"ok": True}

    response = await client.get("/")
    assert response.headers["x-hello"] == "Howdy"
    assert (await client.get("/missing")).headers["x-hello"] == "Howdy"


async def test_middleware_leaves_streams_unbuffered(app: Ember) -> None:
    """Each chunk passes the middleware before the next one is even produced."""
    delivered = anyio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal delivered
        for chunk in (b"one ", b"two ", b"three"):
            yield chunk
            # A middleware that buffered the body would never let this finish.
            await delivered.wait()
            delivered = anyio.Event()

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="text/plain")

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)
        if message.get("body"):
            delivered.set()

    async def receive() -> Any:
        await anyio.sleep_forever()

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/stream",
        "headers": [],
        "query_string": b"",
        "http_version": "1.1",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": None,
        "root_path": "",
    }
    with anyio.fail_after(5):
        await app(scope, receive, send)

    assert (b"x-hello", b"Howdy") in sent[0]["headers"]
    assert [m["body"] for m in sent[1:] if m.get("body")] == [b"one ", b"two ", b"three"]


async def test_middleware_can_be_added_by_hand() -> None:
    # Without the plugin's hook: the class is ordinary Ember middleware.
    app = Ember(load_entry_points=False)
    app.add_middleware(HelloHeaderMiddleware, greeting="Hi")

    @app.get("/")
    async def index() -> str:
        return "ok"

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/")).headers["x-hello"] == "Hi"


def test_greeter_is_exported_from_ember() -> None:
    from ember import Greeter as FromEmber

    assert FromEmber is Greeter


def test_ember_plugin_registers_on_one_app_only(ember_plugin: Any, make_app: Any) -> None:
    with ember_plugin(plugin, greeting="Hey") as app:
        assert app.options["greeting"] == "Hey"
        assert callable(app.hello_route)
    assert not hasattr(make_app(), "hello_route")


async def test_example_app_serves_with_the_installed_plugin() -> None:
    """The guide's example, with ember-hello found through its entry point."""
    path = Path(__file__).parent.parent / "example_app.py"
    spec = importlib.util.spec_from_file_location("ember_hello_example_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    transport = httpx.ASGITransport(app=module.app)
    async with (
        running(module.app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        hello = await client.get("/hello/ada")
        greet = await client.get("/greet/bob")

    assert (hello.text, hello.headers["x-hello"]) == ("Howdy, Ada!", "Howdy")
    assert greet.json() == {"message": "Howdy, bob!"}
