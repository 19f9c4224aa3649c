"""The seed's "Token Rate Limiting" sample, unchanged, served by uvicorn, does what it says."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from ember.ratelimit.estimate import estimate_prompt_tokens
from servers import uvicorn_server

TIMEOUT = httpx.Timeout(20.0)


@pytest.fixture(scope="module")
def seed() -> Iterator[str]:
    with uvicorn_server("seed_token_rate_limiting:app") as url:
        yield url


def _post(url: str, body: dict[str, object], key: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/premium", json=body, headers={"authorization": f"Bearer {key}"}, timeout=TIMEOUT
    )


def test_the_premium_route_serves_and_reports_its_budget(seed: str) -> None:
    body = {"message": "What is Python?", "max_tokens": 5000}
    response = _post(seed, body, "sk-reporter")
    assert response.status_code == 200
    assert response.headers["x-ratelimit-limit-tokens"] == "10000"
    # max_tokens 5000 is capped at max_completion_tokens=2048 before it is reserved.
    reserved = estimate_prompt_tokens(body) + 2048
    assert response.headers["x-ratelimit-remaining-tokens"] == str(10_000 - reserved)


def test_a_prompt_over_max_prompt_tokens_is_a_400(seed: str) -> None:
    response = _post(seed, {"message": "word " * 5000}, "sk-long")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "prompt_too_long"


def test_tokens_per_minute_holds_per_client_key(seed: str) -> None:
    # Each request reserves ~4000 prompt + 2048 completion of the key's 10k a
    # minute; whatever the timing, three in a row cannot all fit.
    body = {"message": "word " * 4000, "max_tokens": 2048}
    responses = [_post(seed, body, "sk-heavy") for _ in range(3)]
    assert responses[0].status_code == 200
    refused = next(r for r in responses if r.status_code != 200)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(refused.headers["retry-after"]) >= 1
    # Another key has its own budget.
    assert _post(seed, body, "sk-light").status_code == 200


def test_the_global_bucket_reports_on_every_response(seed: str) -> None:
    response = httpx.post(f"{seed}/nowhere", json={"message": "hi"}, timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.headers["x-ratelimit-limit-tokens"] == "100000"


@pytest.fixture(scope="module")
def ai_route_sample() -> Iterator[str]:
    with uvicorn_server("seed_ai_route:app") as url:
        yield url


def test_the_ai_route_samples_token_limits_apply_to_its_stream(ai_route_sample: str) -> None:
    body = {"message": "What is Python?"}
    with httpx.stream("POST", f"{ai_route_sample}/v1/chat", json=body, timeout=TIMEOUT) as response:
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit-tokens"] == "60000"
        text = "".join(response.iter_text())
    assert "Sure!" in text
    # The first request reserved its prompt and the default completion; the
    # next one sees that settled down to the few tokens really streamed.
    again = httpx.post(f"{ai_route_sample}/v1/chat", json=body, timeout=TIMEOUT)
    spent_before_second = 60_000 - int(again.headers["x-ratelimit-remaining-tokens"])
    assert spent_before_second < 2 * 512
