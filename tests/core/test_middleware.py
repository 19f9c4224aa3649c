"""Middleware: three accepted forms, the last added outermost, streams untouched."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from core_helpers import asgi_client, live_server, make_app
from ember import Ember, SSEResponse
from ember.types import ASGIApp, Message, Receive, Scope, Send
from httpx_sse import connect_sse


def _tagging(app: ASGIApp, tag: str, order: list[str]) -> ASGIApp:
    """ASGI middleware that records its name on the way in and adds a header."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        order.append(tag)

        async def tagged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-tag", tag.encode())]
            await send(message)

        await app(scope, receive, tagged_send)

    return middleware


class WrapStyle:
    """The Ember style: an instance with ``wrap(app)``."""

    def __init__(self, tag: str, order: list[str]) -> None:
        self.tag, self.order = tag, order

    def wrap(self, app: ASGIApp) -> ASGIApp:
        return _tagging(app, self.tag, self.order)


class ClassStyle:
    """The Starlette style: a class taking the app first, options as keywords."""

    def __init__(self, app: ASGIApp, tag: str, order: list[str]) -> None:
        self.inner = _tagging(app, tag, order)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.inner(scope, receive, send)


def _hello_app() -> Ember:
    app = make_app()

    @app.get("/")
    async def hello() -> str:
        return "hello"

    return app


async def _get(app: Ember) -> httpx.Response:
    async with asgi_client(app) as client:
        return await client.get("/")


async def test_an_instance_with_wrap_is_applied() -> None:
    order: list[str] = []
    app = _hello_app()
    app.add_middleware(WrapStyle("wrap", order))
    response = await _get(app)
    assert response.headers["x-tag"] == "wrap"
    assert order == ["wrap"]


async def test_a_class_is_built_with_the_app_and_keyword_arguments() -> None:
    order: list[str] = []
    app = _hello_app()
    app.add_middleware(ClassStyle, tag="class", order=order)
    assert (await _get(app)).headers["x-tag"] == "class"


async def test_a_function_taking_the_app_is_applied() -> None:
    order: list[str] = []
    app = _hello_app()
    app.add_middleware(lambda inner: _tagging(inner, "function", order))
    assert (await _get(app)).headers["x-tag"] == "function"


async def test_the_last_added_middleware_is_outermost() -> None:
    order: list[str] = []
    app = _hello_app()
    app.add_middleware(WrapStyle("first", order))
    app.add_middleware(ClassStyle, tag="second", order=order)
    app.add_middleware(lambda inner: _tagging(inner, "third", order))
    response = await _get(app)
    assert order == ["third", "second", "first"]
    # Headers are added on the way out, innermost first.
    assert response.headers.get_list("x-tag") == ["first", "second", "third"]
    assert response.text == "hello"


def test_something_that_is_not_middleware_is_refused() -> None:
    with pytest.raises(TypeError, match="middleware must have wrap"):
        make_app().add_middleware(42)


def test_keyword_arguments_are_refused_for_an_instance() -> None:
    with pytest.raises(TypeError, match="only for middleware classes"):
        make_app().add_middleware(WrapStyle("x", []), tag="y")


async def test_middleware_cannot_be_added_after_the_app_started() -> None:
    app = _hello_app()
    await _get(app)
    with pytest.raises(RuntimeError, match="after the app has started"):
        app.add_middleware(WrapStyle("late", []))


async def test_an_exception_in_middleware_is_a_500_envelope() -> None:
    def broken(inner: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            raise RuntimeError("middleware broke")

        return middleware

    app = _hello_app()
    app.add_middleware(broken)
    response = await _get(app)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "middleware broke" not in response.text


def test_a_stream_passes_through_middleware_unbuffered() -> None:
    release = threading.Event()
    order: list[str] = []
    app = make_app()
    app.add_middleware(WrapStyle("outer", order))
    app.add_middleware(ClassStyle, tag="outermost", order=order)

    async def produce() -> AsyncIterator[str]:
        yield "data: first\n\n"
        await asyncio.to_thread(release.wait, 10)
        yield "data: last\n\n"

    @app.get("/stream")
    async def stream() -> SSEResponse:
        return SSEResponse(produce())

    with (
        live_server(app) as url,
        httpx.Client(timeout=10) as client,
        connect_sse(client, "GET", f"{url}/stream") as source,
    ):
        assert source.response.headers.get_list("x-tag") == ["outer", "outermost"]
        events = source.iter_sse()
        # The producer is still waiting for `release`: the first event came
        # through both middleware layers without waiting for the rest.
        assert next(events).data == "first"
        assert not release.is_set()
        release.set()
        assert [e.data for e in events] == ["last"]


def test_app_lists_the_middleware_added_in_order() -> None:
    def first(app: Any) -> Any:
        return app

    def second(app: Any) -> Any:
        return app

    app = Ember(load_entry_points=False)
    app.add_middleware(first)
    app.add_middleware(second)
    assert app.middleware == (first, second)
