"""The Request object: headers, query, body, JSON, client, url, state."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest
from core_helpers import asgi_client, live_server, make_app
from ember import Ember, Request


def _inspecting_app() -> Ember:
    app = make_app()

    @app.route("/inspect/{rest:path}", methods=["GET", "POST"])
    async def inspect(request: Request) -> dict[str, Any]:
        return {
            "method": request.method,
            "path": request.path,
            "rest": request.path_params["rest"],
            "url": str(request.url),
            "query": request.query.multi_items(),
            "first_tag": request.query.get("tag"),
            "tags": request.query.getlist("tag"),
            "agent": request.headers.get("X-Agent"),
            "agents": request.headers.getlist("x-agent"),
            "client": list(request.client or ()),
        }

    return app


async def test_headers_are_case_insensitive_and_keep_repeats() -> None:
    async with asgi_client(_inspecting_app()) as client:
        response = await client.get("/inspect/x", headers=[("X-Agent", "one"), ("x-agent", "two")])
    body = response.json()
    assert body["agent"] == "one"
    assert body["agents"] == ["one", "two"]


async def test_query_parameters_keep_repeats_and_blank_values() -> None:
    async with asgi_client(_inspecting_app()) as client:
        response = await client.get("/inspect/x?tag=a&tag=b&empty=&q=hello%20world")
    body = response.json()
    assert body["first_tag"] == "a"
    assert body["tags"] == ["a", "b"]
    assert body["query"] == [["tag", "a"], ["tag", "b"], ["empty", ""], ["q", "hello world"]]


async def test_url_method_path_and_client() -> None:
    async with asgi_client(_inspecting_app()) as client:
        response = await client.post("/inspect/a/b?x=1")
    body = response.json()
    assert body["method"] == "POST"
    assert body["path"] == "/inspect/a/b"
    assert body["rest"] == "a/b"
    assert body["url"] == "http://testserver/inspect/a/b?x=1"
    assert body["client"] == ["127.0.0.1", 123]


async def test_body_returns_the_raw_bytes_and_can_be_read_twice() -> None:
    app = make_app()

    @app.post("/")
    async def echo(request: Request) -> bytes:
        first = await request.body()
        return first + b"|" + await request.body()

    async with asgi_client(app) as client:
        response = await client.post("/", content=b"\x00\xffraw")
    assert response.content == b"\x00\xffraw|\x00\xffraw"


async def test_json_parses_the_body() -> None:
    app = make_app()

    @app.post("/")
    async def echo(request: Request) -> dict[str, Any]:
        data = await request.json()
        return {"got": data, "again": await request.json() is data}

    async with asgi_client(app) as client:
        response = await client.post("/", json={"n": 1, "s": "é", "l": [True, None]})
    assert response.json() == {"got": {"n": 1, "s": "é", "l": [True, None]}, "again": True}


async def test_a_body_sent_in_several_chunks_is_joined() -> None:
    app = make_app()

    @app.post("/")
    async def size(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(5):
            yield b"x" * 1000

    async with asgi_client(app) as client:
        response = await client.post("/", content=chunks())
    assert response.json() == {"size": 5000}


async def test_state_is_a_namespace_shared_for_the_request() -> None:
    app = make_app()

    @app.get("/")
    async def handler(request: Request) -> str:
        request.state.user = "ada"
        return str(request.state.user)

    async with asgi_client(app) as client:
        assert (await client.get("/")).text == "ada"


async def _call(app: Ember, path: str, query_string: bytes) -> tuple[int, bytes]:
    """Call the app with a hand-made scope, as a server that passes raw bytes would."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": query_string,
        "headers": [],
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1),
    }
    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def test_invalid_utf8_in_the_query_becomes_replacement_characters() -> None:
    app = make_app()

    @app.get("/q")
    async def handler(request: Request) -> dict[str, Any]:
        return dict(request.query)

    status, body = await _call(app, "/q", b"escaped=%FF%FEok&raw=\xff\xfe")
    assert status == 200
    assert body.decode() == '{"escaped":"\ufffd\ufffdok","raw":"\ufffd\ufffd"}'


async def test_invalid_utf8_in_the_path_reaches_the_handler_as_replacement_characters() -> None:
    app = make_app()

    @app.get("/p/{name}")
    async def handler(name: str) -> dict[str, str]:
        return {"name": name}

    with (
        live_server(app) as url,
        socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10) as sock,
    ):
        sock.sendall(b"GET /p/a%FFb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body.decode() == '{"name":"a\ufffdb"}'


async def test_an_undecodable_path_from_the_server_gets_a_404_envelope() -> None:
    # A server decoding with surrogateescape hands over lone surrogates, which
    # cannot be encoded as UTF-8: the error response must still be valid JSON.
    status, body = await _call(make_app(), "/a\udcff", b"")
    assert status == 404
    assert b'"code":"unknown_url"' in body


def _disconnect_watching_app() -> tuple[Ember, threading.Event]:
    noticed = threading.Event()
    app = make_app()

    @app.route("/wait", methods=["GET", "POST"])
    async def wait(request: Request) -> str:
        if request.method == "POST":
            await request.body()
        for _ in range(1000):  # at most ~10 s
            if await request.is_disconnected():
                noticed.set()
                return "gone"
            await asyncio.sleep(0.01)
        return "timed out"

    return app, noticed


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /wait HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
    ],
    ids=["without-body", "after-reading-the-body"],
)
def test_is_disconnected_notices_a_client_that_hung_up(request_bytes: bytes) -> None:
    app, noticed = _disconnect_watching_app()
    with live_server(app) as url:
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10) as s:
            s.sendall(request_bytes)
            time.sleep(0.2)
        assert noticed.wait(timeout=5)


async def test_is_disconnected_keeps_the_body_it_peeked_at() -> None:
    app = make_app()

    @app.post("/")
    async def handler(request: Request) -> bytes:
        assert not await request.is_disconnected()
        return await request.body()

    async with asgi_client(app) as client:
        response = await client.post("/", content=b"still here")
    assert response.content == b"still here"
