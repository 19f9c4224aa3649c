"""Per-route TokenLimits: per-key TPM, max prompt, max completion, and never unlimited."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from ember import ConfigError, Request
from ember.ratelimit import GlobalTokenBucket, RateLimitMiddleware, TokenLimits
from ember.testing import build_app
from limiter_helpers import HELLO_PROMPT_TOKENS, chat_body, make_app
from servers import client_for

ALICE = {"authorization": "Bearer sk-alice"}
BOB = {"authorization": "Bearer sk-bob"}


def app_with_route(limits: TokenLimits, calls: list[Any] | None = None) -> Any:
    app = make_app()

    async def premium(request: Request) -> dict[str, Any]:
        body = await request.json()
        cap = getattr(request.state, "max_completion_tokens", None)
        if calls is not None:
            calls.append(cap)
        request.state.ember_usage = {
            "prompt_tokens": HELLO_PROMPT_TOKENS,
            "completion_tokens": cap or body.get("max_tokens") or 0,
        }
        return {"max_completion_tokens": cap}

    app.add_route("/v1/premium", premium, ["POST"], token_limits=limits)
    return app


async def test_tokens_per_minute_is_a_budget_per_client_key() -> None:
    app = app_with_route(TokenLimits(tokens_per_minute=100))
    async with client_for(app) as client:
        first = await client.post("/v1/premium", json=chat_body(max_tokens=80), headers=ALICE)
        again = await client.post("/v1/premium", json=chat_body(max_tokens=80), headers=ALICE)
        bob = await client.post("/v1/premium", json=chat_body(max_tokens=80), headers=BOB)
    assert [first.status_code, again.status_code, bob.status_code] == [200, 429, 200]
    assert again.json()["error"]["code"] == "rate_limit_exceeded"
    assert "/v1/premium" in again.json()["error"]["message"]
    assert first.headers["x-ratelimit-limit-tokens"] == "100"


async def test_an_over_long_prompt_is_refused_before_the_handler_runs() -> None:
    calls: list[Any] = []
    app = app_with_route(TokenLimits(max_prompt_tokens=50), calls)
    async with client_for(app) as client:
        response = await client.post("/v1/premium", json=chat_body("word " * 200))
        ok = await client.post("/v1/premium", json=chat_body("short"))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "prompt_too_long" and error["param"] == "messages"
    assert "Limit 50" in error["message"]
    assert ok.status_code == 200
    assert len(calls) == 1  # only the short prompt reached the handler


async def test_max_completion_tokens_caps_the_request() -> None:
    calls: list[Any] = []
    app = app_with_route(TokenLimits(max_completion_tokens=64), calls)
    async with client_for(app) as client:
        await client.post("/v1/premium", json=chat_body(max_tokens=1000))
        await client.post("/v1/premium", json=chat_body(max_tokens=10))
        await client.post("/v1/premium", json=chat_body(max_tokens=None))
    assert calls == [64, 10, 64]


async def test_the_capped_completion_is_what_gets_reserved() -> None:
    app = app_with_route(TokenLimits(tokens_per_minute=1000, max_completion_tokens=64))
    async with client_for(app) as client:
        response = await client.post("/v1/premium", json=chat_body(max_tokens=5000))
    assert response.status_code == 200
    remaining = int(response.headers["x-ratelimit-remaining-tokens"])
    assert remaining == 1000 - (HELLO_PROMPT_TOKENS + 64)


async def test_route_and_global_budgets_are_reserved_together_or_not_at_all() -> None:
    app = app_with_route(TokenLimits(tokens_per_minute=100))
    limiter = RateLimitMiddleware(global_bucket=GlobalTokenBucket(capacity=10_000, refill_rate=0))
    app.add_middleware(limiter)
    async with client_for(app) as client:
        first = await client.post("/v1/premium", json=chat_body(max_tokens=80), headers=ALICE)
        refused = await client.post("/v1/premium", json=chat_body(max_tokens=80), headers=ALICE)
    assert first.status_code == 200 and refused.status_code == 429
    from ember.ratelimit.buckets import Budget

    level = limiter.backend.level(Budget("global", 10_000, 0, "global"))  # type: ignore[attr-defined]
    assert level == 10_000 - (HELLO_PROMPT_TOKENS + 80)  # the refusal took nothing


def test_token_limits_without_ember_ratelimit_fail_at_registration() -> None:
    app = build_app()  # no plugins at all

    async def handler(request: Request) -> dict[str, str]:
        return {}

    with pytest.raises(ConfigError, match="token_limits"):
        app.add_route("/x", handler, ["POST"], token_limits=TokenLimits(tokens_per_minute=10))


def test_token_limits_must_be_a_token_limits() -> None:
    app = make_app()

    async def handler(request: Request) -> dict[str, str]:
        return {}

    with pytest.raises(ConfigError, match="must be a TokenLimits"):
        app.add_route("/x", handler, ["POST"], token_limits={"tokens_per_minute": 10})


def test_token_limits_refuse_nonsense_values() -> None:
    with pytest.raises(ValueError):
        TokenLimits(tokens_per_minute=0)
    with pytest.raises(ValueError):
        TokenLimits(max_prompt_tokens=-5)


async def test_a_limited_route_added_after_start_up_refuses_rather_than_run_unlimited() -> None:
    app = make_app()

    @app.get("/open")
    async def open_route() -> dict[str, bool]:
        return {"ok": True}

    async with client_for(app) as client:
        await client.get("/open")  # the middleware stack is built now, with no limiter

        @app.post("/late", token_limits=TokenLimits(tokens_per_minute=100))
        async def late(request: Request) -> dict[str, bool]:
            return {"ran": True}

        response = await client.post("/late", json=chat_body())
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "rate_limit_not_enforced"


async def test_the_in_memory_backend_warns_when_the_app_runs_several_workers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("EMBER_WORKERS", "4")
    app = app_with_route(TokenLimits(tokens_per_minute=100))
    with caplog.at_level(logging.WARNING, logger="ember.ratelimit"):
        async with client_for(app):
            pass
    assert "in-memory rate-limit backend" in caplog.text and "4 workers" in caplog.text


async def test_one_worker_gets_no_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("EMBER_WORKERS", "1")
    app = app_with_route(TokenLimits(tokens_per_minute=100))
    with caplog.at_level(logging.WARNING, logger="ember.ratelimit"):
        async with client_for(app):
            pass
    assert "in-memory" not in caplog.text
