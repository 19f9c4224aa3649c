"""Each strategy's meaning, and the rules every strategy follows (one test per rule)."""

from __future__ import annotations

import asyncio

import pytest
from ember import HTTPError
from ember.ai.context import ConversationContext, MessageRole
from ember.ai.router import ModelRouter, ModelSpec, RoutingStrategy

HELLO = [{"role": "user", "content": "hello"}]
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {}}}]


def local(name: str, **kwargs: object) -> ModelSpec:
    return ModelSpec(name, "local", **kwargs)  # type: ignore[arg-type]


async def names(router: ModelRouter, count: int, **kwargs: object) -> list[str]:
    return [(await router.select(messages=HELLO, **kwargs)).name for _ in range(count)]  # type: ignore[arg-type]


async def test_fallback_picks_the_first_model_in_order() -> None:
    router = ModelRouter([local("a"), local("b"), local("c")], RoutingStrategy.FALLBACK)
    assert await names(router, 3) == ["a", "a", "a"]


async def test_fallback_picks_the_first_healthy_model() -> None:
    router = ModelRouter([local("a"), local("b")], RoutingStrategy.FALLBACK)
    router.cool_down("a", 60)
    assert await names(router, 1) == ["b"]


async def test_cheapest_counts_prompt_tokens_times_input_price() -> None:
    cheap_in = local("cheap-in", cost_per_input_token=0.001, cost_per_output_token=0.01)
    cheap_out = local("cheap-out", cost_per_input_token=0.01, cost_per_output_token=0.001)
    router = ModelRouter([cheap_out, cheap_in], RoutingStrategy.CHEAPEST)
    long_prompt = [{"role": "user", "content": "word " * 2000}]
    # A long prompt and a short answer: input price dominates.
    assert (await router.select(messages=long_prompt, max_tokens=10)).name == "cheap-in"
    # A short prompt and a long answer: output price dominates.
    assert (await router.select(messages=HELLO, max_tokens=2000)).name == "cheap-out"


async def test_fastest_tries_unmeasured_models_first_then_the_lowest_average() -> None:
    router = ModelRouter([local("slow"), local("fast"), local("new")], RoutingStrategy.FASTEST)
    router.record_latency("slow", 0.9, first_token=True)
    router.record_latency("fast", 0.1, first_token=True)
    assert await names(router, 1) == ["new"]
    router.record_latency("new", 0.5, first_token=True)
    assert await names(router, 1) == ["fast"]


async def test_fastest_uses_a_moving_average() -> None:
    router = ModelRouter([local("a"), local("b")], RoutingStrategy.FASTEST)
    router.record_latency("a", 0.1, first_token=True)
    router.record_latency("b", 0.2, first_token=True)
    router.record_latency("a", 1.0, first_token=True)  # one slow answer moves the average up
    assert await names(router, 1) == ["b"]


async def test_fastest_measures_real_calls() -> None:
    router = ModelRouter([local("a")], RoutingStrategy.FASTEST)
    async with await router.stream(HELLO) as stream:
        async for _ in stream:
            pass
    assert router.measured_latency("a", streaming=True) is not None


async def test_round_robin_rotates_once_per_select() -> None:
    router = ModelRouter([local("a"), local("b"), local("c")], RoutingStrategy.ROUND_ROBIN)
    assert await names(router, 4) == ["a", "b", "c", "a"]


async def test_round_robin_is_fair_under_concurrency() -> None:
    router = ModelRouter([local("a"), local("b")], RoutingStrategy.ROUND_ROBIN)
    chosen = await asyncio.gather(*(router.select(messages=HELLO) for _ in range(100)))
    assert sorted(m.name for m in chosen).count("a") == 50


async def test_round_robin_skips_a_cooling_model() -> None:
    router = ModelRouter([local("a"), local("b"), local("c")], RoutingStrategy.ROUND_ROBIN)
    router.cool_down("b", 60)
    assert await names(router, 3) == ["a", "c", "c"]


async def test_round_robin_is_shared_across_processes_through_redis(redis_url: str) -> None:
    import uuid

    prefix = f"test-rr-{uuid.uuid4().hex}"
    models = [local("a"), local("b"), local("c")]
    # Two routers with their own connections stand for two worker processes.
    one = ModelRouter(models, RoutingStrategy.ROUND_ROBIN, redis_url=redis_url, redis_prefix=prefix)
    two = ModelRouter(models, RoutingStrategy.ROUND_ROBIN, redis_url=redis_url, redis_prefix=prefix)
    try:
        picks = [await names(one, 1), await names(two, 1), await names(one, 1), await names(two, 1)]
    finally:
        await one.aclose()
        await two.aclose()
    assert [p[0] for p in picks] == ["a", "b", "c", "a"]


async def test_stream_after_select_does_not_take_another_turn() -> None:
    router = ModelRouter([local("a"), local("b")], RoutingStrategy.ROUND_ROBIN)
    chosen = await router.select(messages=HELLO)
    async with await router.stream(HELLO, model=chosen) as stream:
        assert stream.model == chosen
    assert (await router.select(messages=HELLO)).name == "b"


@pytest.mark.parametrize("strategy", list(RoutingStrategy))
async def test_every_strategy_skips_models_in_cooldown(strategy: RoutingStrategy) -> None:
    router = ModelRouter([local("a"), local("b")], strategy)
    router.cool_down("a", 60)
    assert {m for m in await names(router, 3)} == {"b"}


@pytest.mark.parametrize("strategy", list(RoutingStrategy))
async def test_every_strategy_skips_models_whose_window_is_too_small(
    strategy: RoutingStrategy,
) -> None:
    router = ModelRouter(
        [
            local("small", context_window=50, cost_per_input_token=0.0),
            local("big", context_window=100_000, cost_per_input_token=1.0),
        ],
        strategy,
    )
    long_prompt = [{"role": "user", "content": "word " * 200}]
    picks = {(await router.select(messages=long_prompt)).name for _ in range(3)}
    assert picks == {"big"}


@pytest.mark.parametrize("strategy", list(RoutingStrategy))
async def test_every_strategy_skips_models_without_tools_when_tools_are_sent(
    strategy: RoutingStrategy,
) -> None:
    router = ModelRouter(
        [local("plain"), local("tooled", supports_tools=True, cost_per_input_token=1.0)], strategy
    )
    assert {m for m in await names(router, 3, tools=TOOLS)} == {"tooled"}
    assert (await router.select(messages=HELLO)).name in {"plain", "tooled"}


async def test_select_reads_the_prompt_from_the_context() -> None:
    router = ModelRouter([local("small", context_window=40), local("big", context_window=10_000)])
    context = ConversationContext()
    context.add_message(MessageRole.USER, "word " * 100)
    assert (await router.select(None, context)).name == "big"


async def test_no_model_fits_is_a_400_naming_why() -> None:
    router = ModelRouter([local("small", context_window=10)])
    with pytest.raises(HTTPError) as info:
        await router.select(messages=[{"role": "user", "content": "word " * 100}])
    assert info.value.status == 400 and info.value.code == "context_length_exceeded"
    assert "small (context_window)" in info.value.message


async def test_every_model_cooling_is_a_503_with_retry_after() -> None:
    router = ModelRouter([local("a")])
    router.cool_down("a", 30)
    with pytest.raises(HTTPError) as info:
        await router.select(messages=HELLO)
    assert info.value.status == 503 and int(info.value.headers["retry-after"]) >= 29


def test_model_spec_repr_shows_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY_FOR_TEST", "sk-live-very-secret")
    spec = ModelSpec("m", "openai", api_key_env="SECRET_KEY_FOR_TEST")
    assert spec.api_key() == "sk-live-very-secret"
    assert "sk-live-very-secret" not in repr(spec) and "sk-live" not in str(spec)


async def test_calls_after_select_use_its_choice_and_take_no_turn() -> None:
    from types import SimpleNamespace

    router = ModelRouter([local("a"), local("b"), local("c")], RoutingStrategy.ROUND_ROBIN)
    request = SimpleNamespace(state=SimpleNamespace())
    assert (await router.select(request, messages=HELLO)).name == "a"
    first = await router.complete(HELLO, request=request)
    second = await router.complete(HELLO, request=request)
    assert (first.model.name, second.model.name) == ("a", "a")
    assert (await router.select(messages=HELLO)).name == "b"


async def test_round_robin_keeps_rotating_when_redis_is_down() -> None:
    from servers import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    router = ModelRouter([local("a"), local("b")], RoutingStrategy.ROUND_ROBIN, redis_url=dead)
    try:
        assert await names(router, 3) == ["a", "b", "a"]
    finally:
        await router.aclose()
