"""What handlers return becomes a response: JSON, text, bytes and Response objects."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any

from core_helpers import asgi_client, make_app
from ember import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)


async def _get(value: Any) -> Any:
    app = make_app()

    @app.get("/")
    async def handler() -> Any:
        return value

    async with asgi_client(app) as client:
        return await client.get("/")


async def test_a_returned_dict_is_json() -> None:
    response = await _get({"a": 1, "b": "é"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == '{"a":1,"b":"é"}'.encode()


async def test_a_returned_list_is_json() -> None:
    response = await _get([1, "two", None])
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [1, "two", None]


async def test_a_returned_str_is_plain_text_utf8() -> None:
    response = await _get("héllo")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "héllo"


async def test_returning_none_is_json_null() -> None:
    response = await _get(None)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == b"null"


async def test_returned_bytes_are_an_octet_stream() -> None:
    response = await _get(b"\x00\x01")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == b"\x00\x01"


async def test_a_returned_response_is_sent_as_it_is() -> None:
    response = await _get(Response("made", status_code=201, headers={"X-Made": "yes"}))
    assert response.status_code == 201
    assert response.headers["x-made"] == "yes"
    assert response.text == "made"


async def test_json_response_encodes_with_orjson_types() -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    when = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    response = await _get(JSONResponse({"at": when, "id": ident, "p": Point(1, 2)}, 202))
    assert response.status_code == 202
    assert response.json() == {
        "at": "2024-05-01T12:30:00+00:00",
        "id": "12345678-1234-5678-1234-567812345678",
        "p": {"x": 1, "y": 2},
    }


async def test_content_length_is_the_encoded_size() -> None:
    response = await _get(PlainTextResponse("ünï"))
    assert response.headers["content-length"] == str(len("ünï".encode()))


async def test_html_response_has_the_html_media_type() -> None:
    response = await _get(HTMLResponse("<p>hi</p>"))
    assert response.headers["content-type"] == "text/html; charset=utf-8"


async def test_an_explicit_content_type_header_wins_over_the_media_type() -> None:
    response = await _get(JSONResponse({}, headers={"Content-Type": "application/vnd.x+json"}))
    assert response.headers.get_list("content-type") == ["application/vnd.x+json"]


async def test_a_header_given_twice_in_a_list_is_sent_twice() -> None:
    cookies = [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    response = await _get(JSONResponse({}, headers=cookies))
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]


async def test_append_header_adds_a_value_without_replacing_one() -> None:
    response = PlainTextResponse("hi", headers={"set-cookie": "a=1"})
    response.append_header("Set-Cookie", "b=2")
    response.append_header("X-Other", "x")
    sent = await _get(response)
    assert sent.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert sent.headers["x-other"] == "x"


async def test_a_streamed_response_sends_repeated_headers_too() -> None:
    response = StreamingResponse(iter(["ok"]), headers=[("Vary", "a"), ("vary", "b")])
    assert (await _get(response)).headers.get_list("vary") == ["a", "b"]


async def test_streaming_response_joins_str_and_bytes_items() -> None:
    async def parts():  # type: ignore[no-untyped-def]
        yield "a"
        yield b"b"

    response = await _get(StreamingResponse(parts(), media_type="text/plain"))
    assert response.text == "ab"
    assert "content-length" not in response.headers


async def test_streaming_response_steps_a_sync_iterator() -> None:
    response = await _get(StreamingResponse(iter(["x", "y", "z"])))
    assert response.text == "xyz"
