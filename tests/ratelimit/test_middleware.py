"""RateLimitMiddleware in-process: admission, refusals, headers, keys, settlement."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import httpx
import pytest
from ember import Request, TokenStreamResponse
from ember.ratelimit import GlobalTokenBucket, MemoryBackend, RateLimitMiddleware, TokenBucket
from ember.ratelimit.buckets import Budget
from ember.ratelimit.headers import go_duration
from limiter_helpers import HELLO_PROMPT_TOKENS, chat_body, make_app
from servers import client_for


def limited_app(**middleware: Any) -> tuple[Any, RateLimitMiddleware]:
    app = make_app()
    limiter = RateLimitMiddleware(**middleware)
    app.add_middleware(limiter)

    @app.post("/chat")
    async def chat(request: Request) -> dict[str, Any]:
        await request.json()
        return {"id": "x", "usage": {"prompt_tokens": 8, "completion_tokens": 2}}

    @app.post("/plain")
    async def plain(request: Request) -> dict[str, Any]:
        # Uses every token it may: the prompt and all of max_tokens.
        body = await request.json()
        request.state.ember_usage = {
            "prompt_tokens": HELLO_PROMPT_TOKENS,
            "completion_tokens": body.get("max_tokens") or 0,
        }
        return {"ok": True}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app, limiter


def global_level(limiter: RateLimitMiddleware) -> float:
    assert isinstance(limiter.backend, MemoryBackend)
    bucket = limiter.global_bucket
    assert bucket is not None
    return limiter.backend.level(Budget("global", bucket.capacity, bucket.refill_rate, "global"))


def test_the_seed_names_import_from_ember() -> None:
    from ember import GlobalTokenBucket as Seeded
    from ember import RateLimitMiddleware as SeededMiddleware
    from ember import TokenLimits

    assert Seeded is GlobalTokenBucket
    assert SeededMiddleware is RateLimitMiddleware
    assert TokenLimits(tokens_per_minute=10).tokens_per_minute == 10


async def test_over_budget_is_a_429_in_the_openai_envelope_with_retry_after() -> None:
    app, _ = limited_app(global_bucket=GlobalTokenBucket(capacity=100, refill_rate=10))
    async with client_for(app) as client:
        first = await client.post("/plain", json=chat_body(max_tokens=80))
        second = await client.post("/plain", json=chat_body(max_tokens=80))
    assert first.status_code == 200
    assert second.status_code == 429
    error = second.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert error["type"] == "tokens"
    assert "Limit 100" in error["message"]
    assert f"Requested {80 + HELLO_PROMPT_TOKENS}" in error["message"]
    # 12 tokens are left and 88 are needed: 76 more come in 7.6 s at 10 per second.
    assert second.headers["retry-after"] == "8"
    assert re.search(r"Please try again in 7\.[56]\d*s\.", error["message"])
    assert second.headers["x-ratelimit-limit-tokens"] == "100"


async def test_every_response_carries_the_token_headers() -> None:
    app, _ = limited_app(global_bucket=GlobalTokenBucket(capacity=1000, refill_rate=10))
    async with client_for(app) as client:
        response = await client.post("/plain", json=chat_body(max_tokens=100))
        health = await client.get("/health")
    assert response.headers["x-ratelimit-limit-tokens"] == "1000"
    remaining = 1000 - (100 + HELLO_PROMPT_TOKENS)
    assert response.headers["x-ratelimit-remaining-tokens"] == str(remaining)
    assert response.headers["x-ratelimit-reset-tokens"] == go_duration((1000 - remaining) / 10)
    assert health.headers["x-ratelimit-limit-tokens"] == "1000"


def test_reset_times_are_go_durations() -> None:
    assert go_duration(0) == "0s"
    assert go_duration(0.012) == "12ms"
    assert go_duration(3.89) == "3.89s"
    assert go_duration(360) == "6m0s"
    assert go_duration(3725.5) == "1h2m5.5s"


async def test_a_request_that_can_never_fit_gets_a_distinct_error_without_retry() -> None:
    app, limiter = limited_app(global_bucket=GlobalTokenBucket(capacity=100, refill_rate=10))
    async with client_for(app) as client:
        response = await client.post("/plain", json=chat_body(max_tokens=500))
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large" and error["type"] == "tokens"
    assert "retry-after" not in response.headers
    assert global_level(limiter) == 100


async def test_usage_reported_by_the_handler_settles_the_reservation() -> None:
    app, limiter = limited_app(global_bucket=GlobalTokenBucket(capacity=1000, refill_rate=0))

    @app.post("/reported")
    async def reported(request: Request) -> dict[str, bool]:
        request.state.ember_usage = {"prompt_tokens": 30, "completion_tokens": 12}
        return {"ok": True}

    async with client_for(app) as client:
        await client.post("/reported", json=chat_body(max_tokens=200))
    assert global_level(limiter) == 1000 - 42


async def test_usage_in_the_json_response_settles_the_reservation() -> None:
    app, limiter = limited_app(global_bucket=GlobalTokenBucket(capacity=1000, refill_rate=0))
    async with client_for(app) as client:
        await client.post("/chat", json=chat_body(max_tokens=200))
    assert global_level(limiter) == 1000 - 10  # usage says 8 + 2


async def test_streamed_tokens_are_counted_when_nobody_reports_usage() -> None:
    app, limiter = limited_app(global_bucket=GlobalTokenBucket(capacity=1000, refill_rate=0))

    @app.post("/stream")
    async def stream(request: Request) -> TokenStreamResponse:
        await request.json()

        async def tokens() -> Any:
            for word in ["one ", "two ", "three "]:
                yield word

        return TokenStreamResponse(tokens())

    async with client_for(app) as client:
        response = await client.post("/stream", json=chat_body(max_tokens=300))
    assert response.status_code == 200
    assert "x-ratelimit-remaining-tokens" in response.headers
    assert global_level(limiter) == 1000 - (HELLO_PROMPT_TOKENS + 3)


async def test_an_underestimate_is_charged_at_settlement() -> None:
    app, limiter = limited_app(global_bucket=GlobalTokenBucket(capacity=1000, refill_rate=0))

    @app.post("/long")
    async def long(request: Request) -> dict[str, bool]:
        request.state.ember_usage = {"prompt_tokens": 8, "completion_tokens": 500}
        return {"ok": True}

    async with client_for(app) as client:
        await client.post("/long", json=chat_body(max_tokens=10))
    assert global_level(limiter) == 1000 - 508


async def test_a_failed_request_returns_its_reservation() -> None:
    app, limiter = limited_app(global_bucket=GlobalTokenBucket(capacity=1000, refill_rate=0))

    @app.post("/broken")
    async def broken(request: Request) -> None:
        raise RuntimeError("the model is down")

    async with client_for(app) as client:
        response = await client.post("/broken", json=chat_body(max_tokens=100))
    assert response.status_code == 500
    assert global_level(limiter) == 1000


async def test_without_max_tokens_the_default_completion_is_reserved() -> None:
    app, _ = limited_app(
        global_bucket=GlobalTokenBucket(capacity=10_000, refill_rate=0),
        default_completion_tokens=300,
    )
    async with client_for(app) as client:
        response = await client.post("/plain", json=chat_body(max_tokens=None))
    remaining = int(response.headers["x-ratelimit-remaining-tokens"])
    assert remaining == 10_000 - HELLO_PROMPT_TOKENS - 300


async def test_without_estimate_from_body_usage_is_only_charged_afterwards() -> None:
    app, limiter = limited_app(
        global_bucket=GlobalTokenBucket(capacity=10_000, refill_rate=0), estimate_from_body=False
    )
    async with client_for(app) as client:
        response = await client.post("/plain", json=chat_body(max_tokens=50))
    assert response.headers["x-ratelimit-remaining-tokens"] == "10000"
    assert global_level(limiter) == 10_000 - (HELLO_PROMPT_TOKENS + 50)


async def test_the_body_reaches_the_handler_unchanged() -> None:
    app, _ = limited_app(global_bucket=GlobalTokenBucket(capacity=10_000, refill_rate=0))

    @app.post("/echo")
    async def echo(request: Request) -> Any:
        return await request.json()

    body = chat_body("a longer message " * 50, max_tokens=5)
    async with client_for(app) as client:
        response = await client.post("/echo", json=body)
    assert response.json() == body


# ------------------------------------------------------------ keys


async def test_each_api_key_has_its_own_budget() -> None:
    app, _ = limited_app(key_bucket=TokenBucket(capacity=100, refill_rate=0))
    alice = {"authorization": "Bearer sk-alice-secret"}
    bob = {"authorization": "Bearer sk-bob-secret"}
    async with client_for(app) as client:
        first = await client.post("/plain", json=chat_body(max_tokens=80), headers=alice)
        again = await client.post("/plain", json=chat_body(max_tokens=80), headers=alice)
        other = await client.post("/plain", json=chat_body(max_tokens=80), headers=bob)
    assert [first.status_code, again.status_code, other.status_code] == [200, 429, 200]
    assert "sk-alice-secret" not in again.text
    assert "per-key" in again.json()["error"]["message"]


async def test_a_header_can_be_the_client_key() -> None:
    app, _ = limited_app(key_bucket=TokenBucket(capacity=100, refill_rate=0), key="header:x-user")
    async with client_for(app) as client:
        a1 = await client.post("/plain", json=chat_body(max_tokens=80), headers={"x-user": "a"})
        a2 = await client.post("/plain", json=chat_body(max_tokens=80), headers={"x-user": "a"})
        b1 = await client.post("/plain", json=chat_body(max_tokens=80), headers={"x-user": "b"})
    assert [a1.status_code, a2.status_code, b1.status_code] == [200, 429, 200]


async def _statuses_by_ip(limiter_options: dict[str, Any], forwarded: list[str]) -> list[int]:
    app, _ = limited_app(
        key_bucket=TokenBucket(capacity=100, refill_rate=0), key="ip", **limiter_options
    )
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 5000))
    await app.startup()
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return [
                (
                    await client.post(
                        "/plain", json=chat_body(max_tokens=80), headers={"x-forwarded-for": ip}
                    )
                ).status_code
                for ip in forwarded
            ]
    finally:
        await app.shutdown()


async def test_x_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    # Two different forwarded addresses, but the peer is not a trusted proxy:
    # both requests are charged to the peer, so the second is refused.
    assert await _statuses_by_ip({}, ["1.1.1.1", "2.2.2.2"]) == [200, 429]


async def test_x_forwarded_for_is_believed_from_a_trusted_proxy() -> None:
    statuses = await _statuses_by_ip({"trusted_proxies": ["10.0.0.0/8"]}, ["1.1.1.1", "2.2.2.2"])
    assert statuses == [200, 200]


async def test_a_forged_hop_before_the_real_client_is_not_believed() -> None:
    # The client prepends a fake address; the proxy appends the real one.
    forged = ["9.9.9.9, 1.1.1.1", "8.8.8.8, 1.1.1.1"]
    assert await _statuses_by_ip({"trusted_proxies": ["10.0.0.1"]}, forged) == [200, 429]


async def test_a_key_may_have_only_so_many_requests_in_flight() -> None:
    app, _ = limited_app(max_concurrent_per_key=2)
    release = asyncio.Event()
    started = 0
    two_started, three_started = asyncio.Event(), asyncio.Event()

    @app.post("/slow")
    async def slow(request: Request) -> dict[str, bool]:
        nonlocal started
        started += 1
        if started == 2:
            two_started.set()
        if started == 3:
            three_started.set()
        await release.wait()
        return {"ok": True}

    async with client_for(app) as client:
        headers = {"authorization": "Bearer k1"}
        slow_ones = [
            asyncio.create_task(client.post("/slow", json={}, headers=headers)) for _ in range(2)
        ]
        await asyncio.wait_for(two_started.wait(), 10)
        third = await client.post("/slow", json={}, headers=headers)
        other_key = asyncio.create_task(
            client.post("/slow", json={}, headers={"authorization": "Bearer k2"})
        )
        await asyncio.wait_for(three_started.wait(), 10)
        release.set()
        done = await asyncio.gather(*slow_ones, other_key)
        after = await client.post("/slow", json={}, headers=headers)
    assert third.status_code == 429
    assert third.json()["error"]["type"] == "requests"
    assert [r.status_code for r in done] == [200, 200, 200]
    assert after.status_code == 200


# ------------------------------------------------------------ modes


async def test_shadow_mode_logs_what_it_would_refuse_and_lets_it_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, _ = limited_app(global_bucket=GlobalTokenBucket(capacity=100, refill_rate=0), shadow=True)
    with caplog.at_level(logging.WARNING, logger="ember.ratelimit"):
        async with client_for(app) as client:
            statuses = [
                (await client.post("/plain", json=chat_body(max_tokens=80))).status_code
                for _ in range(3)
            ]
    assert statuses == [200, 200, 200]
    assert "shadow mode: would refuse POST /plain with 429" in caplog.text


async def test_a_function_of_the_scope_can_be_the_client_key() -> None:
    def tenant(scope: dict[str, Any]) -> str | None:
        return dict(scope["headers"]).get(b"x-tenant", b"").decode() or None

    app, _ = limited_app(key_bucket=TokenBucket(capacity=100, refill_rate=0), key=tenant)
    async with client_for(app) as client:
        t1 = await client.post("/plain", json=chat_body(max_tokens=80), headers={"x-tenant": "a"})
        t2 = await client.post("/plain", json=chat_body(max_tokens=80), headers={"x-tenant": "a"})
        t3 = await client.post("/plain", json=chat_body(max_tokens=80), headers={"x-tenant": "b"})
    assert [t1.status_code, t2.status_code, t3.status_code] == [200, 429, 200]


def test_an_unknown_key_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="key must be"):
        RateLimitMiddleware(key="cookie")


async def _reads_before_handler(content_type: bytes) -> int:
    """How many body messages the limiter read before the handler started."""
    app, _ = limited_app(global_bucket=GlobalTokenBucket(capacity=10_000, refill_rate=0))
    reads = 0
    at_start: list[int] = []

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, bool]:
        at_start.append(reads)
        await request.body()
        return {"ok": True}

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b'{"messages": []}', "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "POST", "path": "/upload", "query_string": b"",
        "headers": [(b"content-type", content_type)], "client": ("127.0.0.1", 1),
    }  # fmt: skip
    await app.startup()
    await app(scope, receive, send)
    await app.shutdown()
    assert sent[0]["status"] == 200
    return at_start[0]


async def test_a_json_body_is_read_ahead_to_be_estimated() -> None:
    assert await _reads_before_handler(b"application/json") == 1


async def test_a_body_that_is_not_json_is_left_to_stream() -> None:
    assert await _reads_before_handler(b"application/octet-stream") == 0
