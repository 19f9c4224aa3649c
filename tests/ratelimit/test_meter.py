"""Learning a response's real usage as it streams past: usage objects, else counted text."""

from __future__ import annotations

import json

from ember.ratelimit.estimate import count_text
from ember.ratelimit.meter import Meter

SSE = [(b"content-type", b"text/event-stream; charset=utf-8")]
JSON = [(b"content-type", b"application/json")]


def sse(*events: object) -> bytes:
    return b"".join(
        f"data: {json.dumps(e) if not isinstance(e, str) else e}\n\n".encode() for e in events
    )


def feed_in_pieces(meter: Meter, data: bytes, size: int = 7) -> None:
    # Network chunks split lines anywhere: the meter must not care.
    for start in range(0, len(data), size):
        meter.feed(data[start : start + size], True)
    meter.feed(b"", False)


def chunk(content: str) -> dict[str, object]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": content}}],
    }


def test_an_openai_stream_is_counted_from_its_deltas() -> None:
    meter = Meter()
    meter.start(200, SSE)
    feed_in_pieces(meter, sse(chunk("Hello"), chunk(" there, friend"), "[DONE]"))
    assert meter.completion_tokens == count_text("Hello") + count_text(" there, friend")
    assert meter.finished and not meter.usage


def test_an_openai_usage_chunk_is_the_real_usage() -> None:
    meter = Meter()
    meter.start(200, SSE)
    usage = {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
    feed_in_pieces(meter, sse(chunk("Hi"), {"choices": [], "usage": usage}, "[DONE]"))
    assert meter.usage == {"prompt_tokens": 11, "completion_tokens": 4}


def test_anthropic_cumulative_usage_keeps_the_latest_output_count() -> None:
    events = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 25, "output_tokens": 1}}},
        {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hello"}},
        {"type": "message_delta", "usage": {"output_tokens": 9}},
        {"type": "message_delta", "usage": {"output_tokens": 15}},
    ]
    body = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
    meter = Meter()
    meter.start(200, SSE)
    feed_in_pieces(meter, body)
    assert sum(meter.usage.values()) == 25 + 15
    assert meter.completion_tokens == count_text("Hello")


def test_plain_token_events_are_counted() -> None:
    meter = Meter()
    meter.start(200, SSE)
    feed_in_pieces(meter, b"data: You \n\ndata: asked: \n\ndata: Hello. \n\n")
    assert meter.completion_tokens == count_text("You") + count_text("asked:") + count_text(
        "Hello."
    )


def test_a_json_body_with_usage_is_read_at_its_end() -> None:
    meter = Meter()
    meter.start(200, JSON)
    body = json.dumps({"usage": {"input_tokens": 3, "output_tokens": 5}}).encode()
    feed_in_pieces(meter, body)
    assert meter.usage == {"input_tokens": 3, "output_tokens": 5}


def test_other_bodies_are_not_read() -> None:
    meter = Meter()
    meter.start(200, [(b"content-type", b"text/plain")])
    feed_in_pieces(meter, b"data: not an event stream\n\n")
    assert meter.completion_tokens == 0 and not meter.usage


def test_a_usage_key_written_with_unicode_escapes_is_still_read() -> None:
    # Bodies without the bytes "usage" are not parsed; JSON may spell the key
    # with \u escapes, and such a body must still be parsed.
    meter = Meter()
    meter.start(200, JSON)
    meter.feed(b'{"\\u0075sage": {"prompt_tokens": 2, "completion_tokens": 1}}', False)
    assert meter.usage == {"prompt_tokens": 2, "completion_tokens": 1}
