"""Hook results are resolved when the app is built, never per request."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from ember import AppOption, Ember, Injectable, RouteDecorator, RouteOption, hookimpl
from servers import client_for


class CountingPlugin:
    """Implements every hook that could be called per request, and counts calls."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    @hookimpl
    def ember_app_options(self) -> list[AppOption]:
        self.calls["ember_app_options"] += 1
        return [AppOption("counted", default=0)]

    @hookimpl
    def ember_route_options(self) -> list[RouteOption]:
        self.calls["ember_route_options"] += 1
        return [RouteOption("tag")]

    @hookimpl
    def ember_route_decorators(self, app: Ember) -> list[RouteDecorator]:
        self.calls["ember_route_decorators"] += 1
        return [RouteDecorator("counted_route", app.get)]

    @hookimpl
    def ember_injectables(self, app: Ember) -> list[Injectable]:
        self.calls["ember_injectables"] += 1
        return [Injectable("number", lambda request: 42)]

    @hookimpl
    def ember_wrap_endpoint(self, app: Ember, route: Any, endpoint: Any) -> Any:
        self.calls["ember_wrap_endpoint"] += 1
        return endpoint

    @hookimpl
    def ember_middleware(self, app: Ember) -> list[Any]:
        self.calls["ember_middleware"] += 1
        return [lambda inner: inner]

    @hookimpl
    def ember_startup(self, app: Ember) -> None:
        self.calls["ember_startup"] += 1

    @hookimpl
    def ember_shutdown(self, app: Ember) -> None:
        self.calls["ember_shutdown"] += 1


async def test_no_hook_runs_per_request() -> None:
    plugin = CountingPlugin()
    app = Ember(plugins=[plugin], load_entry_points=False)

    @app.counted_route("/a/{n}", tag="x")
    async def a(n: str, number: int) -> dict[str, Any]:
        return {"n": n, "number": number}

    @app.post("/b")
    async def b() -> str:
        return "b"

    async with client_for(app) as client:
        for i in range(100):
            response = await client.get(f"/a/{i}")
            assert response.json() == {"n": str(i), "number": 42}
            assert (await client.post("/b")).text == "b"

    assert plugin.calls == {
        "ember_app_options": 1,
        "ember_route_options": 1,
        "ember_route_decorators": 1,
        "ember_injectables": 1,
        "ember_wrap_endpoint": 2,  # once per route
        "ember_middleware": 1,
        "ember_startup": 1,
        "ember_shutdown": 1,
    }


async def test_middleware_is_built_once_without_a_lifespan() -> None:
    """Servers that skip lifespan still build the stack once, on the first request."""
    plugin = CountingPlugin()
    app = Ember(plugins=[plugin], load_entry_points=False)

    @app.get("/")
    async def index() -> str:
        return "ok"

    transport = httpx.ASGITransport(app=app)  # speaks no lifespan
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for _ in range(100):
            assert (await client.get("/")).text == "ok"

    assert plugin.calls["ember_middleware"] == 1
    assert plugin.calls["ember_startup"] == 0
