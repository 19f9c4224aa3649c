"""Bad input and failures get clear JSON errors in the OpenAI envelope."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
from core_helpers import asgi_client, live_server, make_app
from ember import ConfigError, Ember, HTTPError, Request

ENVELOPE_KEYS = {"message", "type", "param", "code"}


def _json_app(**options: Any) -> Ember:
    app = make_app(**options)

    @app.post("/json")
    async def parse(request: Request) -> Any:
        return {"got": await request.json()}

    @app.post("/size")
    async def size(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.post("/big", max_body_size=4 * 1024 * 1024)
    async def big(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.post("/tiny", max_body_size=10)
    async def tiny(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    return app


async def _post(app: Ember, url: str, content: bytes) -> Any:
    async with asgi_client(app) as client:
        return await client.post(url, content=content)


# ------------------------------------------------------------ malformed JSON


async def test_malformed_json_is_400_invalid_json() -> None:
    response = await _post(_json_app(), "/json", b'{"a": ')
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == ENVELOPE_KEYS
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_json"
    assert error["message"].startswith("Malformed JSON in request body")


async def test_an_empty_body_as_json_is_400_saying_so() -> None:
    response = await _post(_json_app(), "/json", b"")
    assert response.status_code == 400
    assert "the body is empty" in response.json()["error"]["message"]


async def test_invalid_utf8_in_a_json_body_is_400() -> None:
    response = await _post(_json_app(), "/json", b'{"a": "\xff"}')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


# ------------------------------------------------------------ body size limit


async def test_the_default_limit_is_one_mebibyte() -> None:
    app = _json_app()
    accepted = await _post(app, "/size", b"x" * (1024 * 1024))
    refused = await _post(app, "/size", b"x" * (1024 * 1024 + 1))
    assert accepted.json() == {"size": 1024 * 1024}
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "request_too_large"


async def test_the_limit_is_configurable_per_app() -> None:
    app = _json_app(max_body_size=100)
    assert (await _post(app, "/size", b"x" * 100)).status_code == 200
    refused = await _post(app, "/size", b"x" * 101)
    assert refused.status_code == 413
    assert "limit of 100 bytes" in refused.json()["error"]["message"]


async def test_a_route_limit_can_be_larger_than_the_apps() -> None:
    response = await _post(_json_app(), "/big", b"x" * (3 * 1024 * 1024))
    assert response.json() == {"size": 3 * 1024 * 1024}


async def test_a_route_limit_can_be_smaller_than_the_apps() -> None:
    response = await _post(_json_app(), "/tiny", b"x" * 11)
    assert response.status_code == 413


async def test_json_over_the_limit_is_413_not_400() -> None:
    response = await _post(_json_app(max_body_size=10), "/json", b'{"a": "' + b"x" * 20 + b'"}')
    assert response.status_code == 413


async def test_an_oversized_chunked_body_stops_being_read_at_the_limit() -> None:
    app = _json_app(max_body_size=250)
    chunks_read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal chunks_read
        chunks_read += 1
        return {"type": "http.request", "body": b"x" * 100, "more_body": chunks_read < 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/size",
        "query_string": b"",
        "headers": [(b"transfer-encoding", b"chunked")],
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    # 100 + 100 + 100 passes 250 at the third chunk; the other 997 stay unread.
    assert chunks_read == 3


def test_a_declared_content_length_over_the_limit_is_answered_before_the_body_is_sent() -> None:
    app = _json_app(max_body_size=1000)
    with (
        live_server(app) as url,
        socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10) as sock,
    ):
        # Headers only: the 10 MB body is never sent, yet the answer comes.
        sock.sendall(
            b"POST /size HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: 10000000\r\n\r\n"
        )
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b'"code":"request_too_large"' in body


def test_a_non_positive_app_limit_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_body_size"):
        make_app(max_body_size=0)


def test_a_non_positive_route_limit_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_body_size"):
        make_app().add_route("/x", lambda: None, max_body_size=0)


# ------------------------------------------------------------ 404 / 405 / HTTPError


async def test_unknown_path_404_body_is_the_envelope() -> None:
    async with asgi_client(make_app()) as client:
        response = await client.get("/missing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()["error"]) == ENVELOPE_KEYS


async def test_wrong_method_405_body_is_the_envelope_with_allow() -> None:
    app = _json_app()
    async with asgi_client(app) as client:
        response = await client.get("/json")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert set(response.json()["error"]) == ENVELOPE_KEYS


async def test_http_error_sets_status_headers_and_every_envelope_field() -> None:
    app = make_app()

    @app.get("/")
    async def handler() -> None:
        raise HTTPError(
            422,
            "temperature must be at most 2",
            type="invalid_request_error",
            code="invalid_value",
            param="temperature",
            headers={"X-Why": "range"},
        )

    async with asgi_client(app) as client:
        response = await client.get("/")
    assert response.status_code == 422
    assert response.headers["x-why"] == "range"
    assert response.json() == {
        "error": {
            "message": "temperature must be at most 2",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "invalid_value",
        }
    }


def test_http_error_defaults_type_and_code_from_the_status() -> None:
    assert HTTPError(429, "slow down").to_dict()["error"] == {
        "message": "slow down",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert HTTPError(503, "busy").to_dict()["error"]["type"] == "server_error"


# ------------------------------------------------------------ unhandled exceptions


def _failing_app(**options: Any) -> Ember:
    app = make_app(**options)

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("secret internal detail")

    return app


async def test_a_handler_exception_is_a_500_envelope_without_traceback() -> None:
    async with asgi_client(_failing_app()) as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "message": "The server had an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": "internal_error",
        }
    }
    assert "Traceback" not in response.text
    assert "secret internal detail" not in response.text


async def test_a_handler_exception_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="ember"):
        async with asgi_client(_failing_app()) as client:
            await client.get("/boom")
    [record] = [r for r in caplog.records if r.name == "ember"]
    assert "GET /boom" in record.getMessage()
    assert record.exc_info is not None
    assert "secret internal detail" in caplog.text
    assert "Traceback" in caplog.text


async def test_debug_puts_the_traceback_in_the_body() -> None:
    async with asgi_client(_failing_app(debug=True)) as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    assert "Traceback" in error["traceback"]
    assert "ValueError: secret internal detail" in error["traceback"]


async def test_a_sync_handler_exception_is_a_500_too() -> None:
    app = make_app()

    @app.get("/")
    def handler() -> None:
        raise RuntimeError("in a thread")

    async with asgi_client(app) as client:
        response = await client.get("/")
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
