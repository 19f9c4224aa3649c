"""Server-Sent Events: framing, headers, keep-alive, no buffering, disconnects.

The parser used as the reference client is httpx-sse. Since 0.4.2 it splits
lines only on CR, LF and CRLF, as the SSE spec says; before that it used
``str.splitlines``, which also breaks on U+2028, U+0085, form feed and
others, so a token holding one of those arrived cut in two. Ember frames by the
spec (it splits on CR/LF only) and the tests require httpx-sse >= 0.4.2;
``test_httpx_sse_splits_lines_only_on_cr_and_lf`` fails on an older one.

SSE data cannot carry a carriage return: every conforming parser reads CR and
CRLF as line ends and joins ``data:`` lines with LF. A token's CR and CRLF
therefore arrive as LF; every other character arrives unchanged.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from core_helpers import asgi_client, live_server, make_app, wait_until
from ember import ConfigError, Request, ServerSentEvent, SSEResponse, TokenStreamResponse
from httpx_sse import EventSource, connect_sse
from httpx_sse import ServerSentEvent as ParsedEvent
from hypothesis import given, settings
from hypothesis import strategies as st

# ------------------------------------------------------------ framing and parsing


def _parse(body: bytes, chunk_size: int | None = None) -> list[ParsedEvent]:
    """Parse an SSE body with httpx-sse, fed in chunks of ``chunk_size`` bytes."""
    size = chunk_size or len(body) or 1
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    response = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=iter(chunks)
    )
    return list(EventSource(response).iter_sse())


def _spec_normalised(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@settings(max_examples=500, deadline=None)
@given(token=st.text(), chunk_size=st.integers(min_value=1, max_value=64))
def test_any_token_arrives_as_exactly_one_event(token: str, chunk_size: int) -> None:
    body = TokenStreamResponse([]).encode(token)
    events = _parse(body, chunk_size)
    assert len(events) == 1
    assert events[0].event == "message"
    assert events[0].data == _spec_normalised(token)


@settings(max_examples=500, deadline=None)
@given(token=st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r")))
def test_a_token_without_carriage_returns_arrives_identical(token: str) -> None:
    [event] = _parse(TokenStreamResponse([]).encode(token))
    assert event.data == token


@pytest.mark.parametrize(
    "token",
    [
        "hi\n\nevent: injected\ndata: evil",
        "\n\n",
        "data: x\n\n",
        ": comment\nid: 7\nretry: 1",
        "line\u2028separator\u0085next\x0cfeed\x1crecord",
    ],
)
def test_a_token_cannot_inject_fields_or_events(token: str) -> None:
    [event] = _parse(TokenStreamResponse([]).encode(token))
    assert event.data == token
    assert event.event == "message"
    assert event.id == ""
    assert event.retry is None


@settings(max_examples=50, deadline=None)
@given(tokens=st.lists(st.text(), max_size=8))
def test_a_token_stream_arrives_as_one_event_per_token(tokens: list[str]) -> None:
    async def produce() -> AsyncIterator[str]:
        for token in tokens:
            yield token

    async def run() -> bytes:
        app = make_app()

        @app.get("/")
        async def handler() -> TokenStreamResponse:
            return TokenStreamResponse(produce())

        async with asgi_client(app) as client:
            return (await client.get("/")).content

    events = _parse(asyncio.run(run()))
    assert [e.data for e in events] == [_spec_normalised(t) for t in tokens]


def test_httpx_sse_splits_lines_only_on_cr_and_lf() -> None:
    [event] = _parse(b"data: a\xe2\x80\xa8b\xc2\x85c\x0cd\n\n")
    assert event.data == "a\u2028b\u0085c\x0cd"


def test_server_sent_event_encodes_every_field() -> None:
    event = ServerSentEvent(data="two\nlines", event="update", id=7, retry=3000, comment="hi")
    assert event.encode() == (
        b": hi\nevent: update\nid: 7\nretry: 3000\ndata: two\ndata: lines\n\n"
    )


def test_server_sent_event_sends_non_string_data_as_json() -> None:
    assert ServerSentEvent(data={"a": [1, 2]}).encode() == b'data: {"a":[1,2]}\n\n'


def test_server_sent_event_refuses_a_line_break_in_event_or_id() -> None:
    with pytest.raises(ValueError, match="line break"):
        ServerSentEvent(data="x", event="a\nb").encode()
    with pytest.raises(ValueError, match="line break"):
        ServerSentEvent(data="x", id="1\r2").encode()


def test_server_sent_event_round_trips_through_httpx_sse() -> None:
    encoded = ServerSentEvent(data="x\ny", event="delta", id="42", retry=10).encode()
    [event] = _parse(encoded)
    assert (event.event, event.data, event.id, event.retry) == ("delta", "x\ny", "42", 10)


# ------------------------------------------------------------ SSEResponse over ASGI


async def _get_stream(response: SSEResponse, **options: Any) -> httpx.Response:
    app = make_app(**options)

    @app.get("/")
    async def handler() -> SSEResponse:
        return response

    async with asgi_client(app) as client:
        return await client.get("/")


async def test_sse_response_sets_the_streaming_headers() -> None:
    response = await _get_stream(SSEResponse(iter(["data: 1\n\n"]), headers={"X-Extra": "1"}))
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["x-extra"] == "1"


async def test_token_stream_response_sets_the_streaming_headers() -> None:
    response = await _get_stream(TokenStreamResponse(iter(["a", "b"])))
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.content == b"data: a\n\ndata: b\n\n"


async def test_sse_response_writes_strings_as_already_framed() -> None:
    response = await _get_stream(SSEResponse(iter(["data: 1\n\n", b"data: 2\n\n"])))
    assert response.content == b"data: 1\n\ndata: 2\n\n"


async def test_sse_response_encodes_events_and_json_items() -> None:
    items = [ServerSentEvent("hi", event="greet"), {"n": 1}, [1, 2]]
    response = await _get_stream(SSEResponse(iter(items)))
    assert response.content == b'event: greet\ndata: hi\n\ndata: {"n":1}\n\ndata: [1,2]\n\n'


async def test_a_failure_mid_stream_ends_with_an_error_event() -> None:
    async def produce() -> AsyncIterator[str]:
        yield "data: first\n\n"
        raise RuntimeError("upstream broke")

    response = await _get_stream(SSEResponse(produce()))
    events = _parse(response.content)
    assert events[0].data == "first"
    assert events[1].event == "error"
    assert events[1].json()["error"]["code"] == "stream_error"
    assert "upstream broke" not in response.text


async def test_a_non_string_token_ends_the_stream_with_an_error_event() -> None:
    response = await _get_stream(TokenStreamResponse(iter(["ok", 42])))
    events = _parse(response.content)
    assert [e.data for e in events[:1]] == ["ok"]
    assert events[1].event == "error"


async def test_head_on_a_stream_route_sends_headers_and_never_runs_the_generator() -> None:
    started = False

    async def produce() -> AsyncIterator[str]:
        nonlocal started
        started = True
        yield "data: never sent\n\n"

    app = make_app()

    @app.get("/")
    async def handler() -> SSEResponse:
        return SSEResponse(produce())

    async with asgi_client(app) as client:
        response = await client.head("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content == b""
    assert not started


async def _idle_then(seconds: float) -> AsyncIterator[str]:
    await asyncio.sleep(seconds)
    yield "data: done\n\n"


async def test_an_idle_stream_gets_keepalive_comments_at_the_response_interval() -> None:
    response = await _get_stream(SSEResponse(_idle_then(0.8), ping_interval=0.1))
    pings = response.text.count(": ping\n\n")
    assert pings >= 3
    assert response.text.endswith("data: done\n\n")


async def test_the_app_option_sets_the_default_keepalive_interval() -> None:
    response = await _get_stream(SSEResponse(_idle_then(0.8)), sse_ping_interval=0.1)
    assert response.text.count(": ping\n\n") >= 3


async def test_the_default_keepalive_interval_is_quiet_for_a_short_stream() -> None:
    # 15 s by default: a stream that idles half a second sends no comment.
    response = await _get_stream(SSEResponse(_idle_then(0.3)))
    assert response.text == "data: done\n\n"


def test_a_non_positive_ping_interval_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sse_ping_interval"):
        make_app(sse_ping_interval=0)


# ------------------------------------------------------------ real sockets: streaming


def _gated_app(response_class: type[SSEResponse]) -> tuple[Any, threading.Event]:
    """An app whose stream sends one item, then waits until the test releases it."""
    release = threading.Event()
    app = make_app()

    async def produce() -> AsyncIterator[str]:
        yield "data: first\n\n" if response_class is SSEResponse else "first"
        await asyncio.to_thread(release.wait, 10)
        yield "data: last\n\n" if response_class is SSEResponse else "last"

    @app.get("/gated")
    async def gated() -> SSEResponse:
        return response_class(produce())

    return app, release


@pytest.mark.parametrize("response_class", [SSEResponse, TokenStreamResponse])
def test_an_event_reaches_the_client_while_the_generator_still_runs(
    response_class: type[SSEResponse],
) -> None:
    app, release = _gated_app(response_class)
    with (
        live_server(app) as url,
        httpx.Client(timeout=10) as client,
        connect_sse(client, "GET", f"{url}/gated") as source,
    ):
        events = source.iter_sse()
        # The generator cannot finish before `release` is set, so receiving
        # the first event now proves it was not held back in a buffer.
        assert next(events).data == "first"
        assert not release.is_set()
        release.set()
        assert [e.data for e in events] == ["last"]


def _watched_app(fast: bool) -> tuple[Any, threading.Event, list[int]]:
    """An endless stream whose ``finally`` sets ``closed``."""
    closed = threading.Event()
    produced: list[int] = []
    app = make_app()

    async def produce() -> AsyncIterator[str]:
        try:
            for i in range(100_000):
                produced.append(i)
                yield f"{i} "
                # Idle (awaiting a slow upstream) or busy (a fast one).
                await asyncio.sleep(0.001 if fast else 30)
        finally:
            closed.set()

    @app.get("/endless")
    async def endless(request: Request) -> TokenStreamResponse:
        return TokenStreamResponse(produce())

    return app, closed, produced


def _read_first_event_then_hang_up(url: str) -> float:
    with httpx.Client(timeout=10) as client, client.stream("GET", f"{url}/endless") as response:
        lines: Iterator[str] = response.iter_lines()
        assert next(lines).startswith("data: 0")
    return time.monotonic()


@pytest.mark.parametrize("fast", [False, True], ids=["idle-generator", "busy-generator"])
def test_a_client_disconnect_closes_the_generator_within_a_second(fast: bool) -> None:
    app, closed, produced = _watched_app(fast)
    with live_server(app) as url:
        _read_first_event_then_hang_up(url)
        assert closed.wait(timeout=1.0), "the generator's finally did not run within 1 s"
        count = len(produced)
        time.sleep(0.2)
        assert len(produced) == count  # nothing runs for a reader that left


def test_a_client_disconnect_closes_the_generator_under_an_sse_response() -> None:
    closed = threading.Event()
    app = make_app()

    async def produce() -> AsyncIterator[str]:
        try:
            yield "data: hello\n\n"
            await asyncio.sleep(30)
        finally:
            closed.set()

    @app.get("/endless")
    async def endless() -> SSEResponse:
        return SSEResponse(produce())

    with live_server(app) as url:
        with httpx.Client(timeout=10) as client, client.stream("GET", f"{url}/endless") as r:
            assert next(r.iter_lines()) == "data: hello"
        assert wait_until(closed.is_set, timeout=1.0)


def test_keepalive_comments_cross_a_real_socket_while_idle() -> None:
    app = make_app(sse_ping_interval=0.1)

    @app.get("/idle")
    async def idle() -> SSEResponse:
        return SSEResponse(_idle_then(0.8))

    with live_server(app) as url, httpx.stream("GET", f"{url}/idle", timeout=10) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: done"
    assert lines.count(": ping") >= 3
