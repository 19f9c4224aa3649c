"""Providers register through ember-ai's pluggy hook, so a package can add one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from ember import Ember, HTTPError, hookimpl
from ember.ai.providers import ChatRequest, Delta, Provider, Usage
from ember.ai.router import ModelRouter, ModelSpec


class ShoutProvider:
    """A third-party provider: answers the last message in capitals."""

    name = "shout"

    async def stream(
        self, spec: ModelSpec, request: ChatRequest, client: httpx.AsyncClient
    ) -> AsyncIterator[Delta]:
        yield Delta(text=str(request.messages[-1]["content"]).upper())
        yield Delta(finish_reason="stop", usage=Usage(1, 1))


class ShoutPlugin:
    @hookimpl
    def ember_ai_providers(self) -> Mapping[str, Provider]:
        return {"shout": ShoutProvider()}


HELLO: list[dict[str, Any]] = [{"role": "user", "content": "hello"}]


async def test_a_plugin_provider_serves_the_apps_router() -> None:
    router = ModelRouter([ModelSpec("loud", "shout")])
    Ember(model_router=router, plugins=[ShoutPlugin()])
    async with await router.stream(HELLO) as stream:
        assert "".join([d.text async for d in stream]) == "HELLO"


async def test_an_unknown_provider_is_skipped_with_its_reason() -> None:
    router = ModelRouter([ModelSpec("ghost", "no-such-provider"), ModelSpec("echo", "local")])
    assert (await router.select(messages=HELLO)).name == "echo"
    with pytest.raises(HTTPError) as info:
        await ModelRouter([ModelSpec("ghost", "no-such-provider")]).select(messages=HELLO)
    assert "ghost (unknown_provider)" in info.value.message


async def test_a_provider_given_to_the_router_wins_over_plugins() -> None:
    class Quiet(ShoutProvider):
        async def stream(
            self, spec: ModelSpec, request: ChatRequest, client: httpx.AsyncClient
        ) -> AsyncIterator[Delta]:
            yield Delta(text="shh", finish_reason="stop")

    router = ModelRouter([ModelSpec("loud", "shout")], providers={"shout": Quiet()})
    Ember(model_router=router, plugins=[ShoutPlugin()])
    result = await router.complete(HELLO)
    assert result.text == "shh"
