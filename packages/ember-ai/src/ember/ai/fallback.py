"""One request's trip through the router's candidates: fallback and the commit point.

``ModelRouter.complete()`` and ``stream()`` each make a ``Call``: it asks the
router for the candidates in its strategy's order, tries them one by one, and
moves on when a call fails *before its first content token*. That token is
the commit point: until it, nothing has reached the client, so a fallback is
invisible and the status code is true. A stream is returned as a
``RoutedStream`` only once it has passed that point; a failure after it is
raised as ``StreamInterrupted`` for the caller to tell in its stream.

``Route`` records what happened (candidates, skips, attempts, Ember's own
overhead) and becomes the ``x-ember-route-*`` response headers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from .assembler import Assembler
from .providers.base import ChatRequest, Delta, FailureClass, Provider, ProviderError, Usage
from .providers.http import transport_error
from .tools import ToolCall

if TYPE_CHECKING:
    from .router import ModelRouter, ModelSpec, RoutingStrategy

logger = logging.getLogger("ember.ai.router")


# Failures that say something about the model rather than the request: the
# model rests. A prompt too long or refused says nothing about the next one.
COOLDOWN_ON = frozenset(
    {
        FailureClass.CONNECT,
        FailureClass.TIMEOUT,
        FailureClass.RATE_LIMIT,
        FailureClass.SERVER,
        FailureClass.AUTH,
        FailureClass.STREAM,
    }
)


@dataclass(slots=True)
class Attempt:
    model: str
    failure: FailureClass | None = None  # None: this attempt answered
    message: str = ""


@dataclass(slots=True)
class Route:
    """How one request was routed; ``headers()`` tells the client."""

    strategy: RoutingStrategy
    candidates: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    model: str | None = None
    prompt_tokens: int = 0
    overhead_ms: float = 0.0

    def headers(self) -> dict[str, str]:
        headers = {
            "x-ember-route-strategy": self.strategy.value,
            "x-ember-route-attempts": str(len(self.attempts)),
            "x-ember-overhead-ms": f"{self.overhead_ms:.2f}",
        }
        if self.model:
            headers["x-ember-route-model"] = self.model
        if self.skipped:
            headers["x-ember-route-skipped"] = ",".join(f"{m}={why}" for m, why in self.skipped)
        failed = [a for a in self.attempts if a.failure is not None]
        if failed:
            headers["x-ember-route-failures"] = ",".join(f"{a.model}={a.failure}" for a in failed)
        return headers


@dataclass(slots=True)
class Completion:
    """A whole answer, the same shape from every provider."""

    model: ModelSpec
    text: str
    tool_calls: list[ToolCall]
    finish_reason: str
    usage: Usage | None
    route: Route
    refusal: str = ""  # OpenAI's refusal, when the model declined instead of answering


class StreamInterrupted(Exception):
    """A stream failed after its commit point: the client already has a 200
    and some content, so the failure must be told in the stream."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.message)
        self.error = error


def received_at(request: Any) -> float:
    """When Ember received ``request``, so overhead includes queue and lock waits."""
    scope = getattr(request, "scope", None)
    received = scope.get("ember.received_at") if isinstance(scope, dict) else None
    return float(received) if received else time.perf_counter()


class Call:
    """One request's trip through the candidates (shared by stream and complete)."""

    def __init__(
        self,
        router: ModelRouter,
        chat: ChatRequest,
        request: Any,
        started: float,
        *,
        streaming: bool,
    ) -> None:
        self.router = router
        self.chat = chat
        self.request = request
        self.started = started
        self.streaming = streaming
        self.upstream_seconds = 0.0
        self.route = Route(router.strategy)

    async def candidates(
        self, first: ModelSpec | None, fallback: bool, rounds: int
    ) -> list[ModelSpec]:
        router = self.router
        route = await router.plan(
            self.chat.messages,
            tools=self.chat.tools,
            max_tokens=self.chat.max_tokens,
            streaming=self.streaming,
            first=first,
            # The application's own select() already took this request's turn.
            advance=rounds == 0 and first is None,
        )
        route.attempts = self.route.attempts
        self.route = route
        if self.request is not None:
            self.request.state.ember_route = route
        names = route.candidates
        if first is not None and not fallback:
            names = [n for n in names if n == first.name]
            if first.name not in names:
                route.skipped = [(m, why) for m, why in route.skipped if m == first.name]
        return [router._by_name[n] for n in names]

    def request_for(self, spec: ModelSpec) -> ChatRequest:
        """The request as ``spec`` gets it: max_tokens within the model's limits."""
        room = spec.context_window - self.route.prompt_tokens
        wanted = self.chat.max_tokens or spec.max_tokens
        max_tokens = max(1, min(wanted, spec.max_tokens, room))
        if max_tokens == self.chat.max_tokens:
            return self.chat
        return ChatRequest(
            self.chat.messages, self.chat.tools, self.chat.tool_choice, max_tokens, self.chat.params
        )

    def failed(self, spec: ModelSpec, error: ProviderError) -> None:
        self.route.attempts.append(Attempt(spec.name, error.failure, error.message))
        logger.info("model %s failed: %s", spec.name, error.failure.value)
        if error.failure in COOLDOWN_ON:
            self.router.cool_down(spec.name, error.retry_after)

    async def wait_or_raise(self, deadline: float) -> None:
        """Wait for the earliest cooldown end if it comes before ``deadline``."""
        router = self.router
        ends = [router.cooling_until(m.name) for m in router.models]
        ends = [e for e in ends if e]
        now = time.monotonic()
        if ends and min(ends) <= deadline:
            await asyncio.sleep(max(0.0, min(ends) - now))
            return
        if not self.route.candidates and not self.route.attempts:
            raise router._no_candidates(self.route)
        if not any(a.failure for a in self.route.attempts):
            raise router._no_candidates(self.route)
        raise router._all_failed(self.route)

    def commit(self, spec: ModelSpec) -> None:
        self.route.model = spec.name
        self.route.attempts.append(Attempt(spec.name))
        elapsed = time.perf_counter() - self.started
        self.route.overhead_ms = max(0.0, (elapsed - self.upstream_seconds) * 1000)

    def settle(self, usage: Usage | None) -> None:
        if usage is not None and self.request is not None:
            self.request.state.ember_usage = {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
            }

    async def complete(self, first: ModelSpec | None, fallback: bool) -> Completion:
        router = self.router
        deadline = time.monotonic() + router.wait_for_cooldown
        for rounds in itertools.count():
            for spec in await self.candidates(first, fallback, rounds):
                provider = router.providers[spec.provider]
                began = time.perf_counter()
                try:
                    assembler = await self._complete_one(provider, spec)
                except ProviderError as error:
                    self.upstream_seconds += time.perf_counter() - began
                    self.failed(spec, error)
                    if error.failure not in router.fallback_on:
                        raise router._error_for(error, self.route) from None
                    continue
                took = time.perf_counter() - began
                self.upstream_seconds += took
                router.record_latency(spec.name, took, first_token=False)
                self.commit(spec)
                self.settle(assembler.usage)
                return Completion(
                    spec,
                    assembler.text,
                    assembler.tool_calls(),
                    assembler.finish_reason or "stop",
                    assembler.usage,
                    self.route,
                    assembler.refusal,
                )
            await self.wait_or_raise(deadline)
        raise AssertionError("unreachable")

    async def _complete_one(self, provider: Provider, spec: ModelSpec) -> Assembler:
        assembler = Assembler()
        chat = self.request_for(spec)
        whole = getattr(provider, "complete", None)
        try:
            if whole is not None:
                assembler.add(await whole(spec, chat, self.router.client))
            else:
                async for delta in provider.stream(spec, chat, self.router.client):
                    assembler.add(delta)
        except httpx.HTTPError as exc:
            raise transport_error(exc) from None
        if assembler.finish_reason == "content_filter" and not (
            assembler.text or assembler.refusal
        ):
            raise ProviderError(FailureClass.CONTENT_POLICY, "the model refused to answer")
        return assembler


class RoutedStream:
    """A streamed answer past its commit point.

    ``model`` and ``route`` say who answers and how it was chosen. Iterating
    yields ``Delta``s, starting with the ones that made the commit; a later
    failure raises ``StreamInterrupted``. Closing it (or leaving ``async
    with``) closes the upstream request.
    """

    def __init__(self, call: Call) -> None:
        self._call = call
        self._buffer: list[Delta] = []
        self._upstream: AsyncIterator[Delta] | None = None
        self._began = 0.0
        self.model: ModelSpec | None = None
        self.usage: Usage | None = None
        self.finish_reason: str | None = None

    @property
    def route(self) -> Route:
        return self._call.route

    def headers(self) -> dict[str, str]:
        return self.route.headers()

    async def _start(self, first: ModelSpec | None, fallback: bool) -> None:
        call = self._call
        router = call.router
        deadline = time.monotonic() + router.wait_for_cooldown
        for rounds in itertools.count():
            for spec in await call.candidates(first, fallback, rounds):
                began = time.perf_counter()
                upstream = router.providers[spec.provider].stream(
                    spec, call.request_for(spec), router.client
                )
                try:
                    buffer = await self._first_content(upstream)
                except ProviderError as error:
                    call.upstream_seconds += time.perf_counter() - began
                    await _close(upstream)
                    call.failed(spec, error)
                    if error.failure not in router.fallback_on:
                        raise router._error_for(error, call.route) from None
                    continue
                except BaseException:  # cancelled while waiting: free the upstream too
                    await asyncio.shield(_close(upstream))
                    raise
                took = time.perf_counter() - began
                call.upstream_seconds += took
                router.record_latency(spec.name, took, first_token=True)
                call.commit(spec)
                self.model = spec
                self._buffer = buffer
                self._upstream = upstream
                self._began = began
                return
            await call.wait_or_raise(deadline)

    async def _first_content(self, upstream: AsyncIterator[Delta]) -> list[Delta]:
        """Read until the first content delta (or a clean end), within the
        first-token timeout."""
        buffer: list[Delta] = []
        limit = self._call.router.first_token_timeout
        try:
            async with asyncio.timeout(limit):
                async for delta in upstream:
                    buffer.append(delta)
                    if delta.has_content:
                        return buffer
        except TimeoutError:
            raise ProviderError(FailureClass.TIMEOUT, f"no first token within {limit} s") from None
        except httpx.HTTPError as exc:
            raise transport_error(exc) from None
        if any(d.finish_reason == "content_filter" for d in buffer):
            raise ProviderError(FailureClass.CONTENT_POLICY, "the model refused to answer")
        return buffer

    def __aiter__(self) -> AsyncIterator[Delta]:
        return self._deltas()

    async def _deltas(self) -> AsyncIterator[Delta]:
        upstream = self._upstream
        try:
            for delta in self._buffer:
                self._observe(delta)
                yield delta
            self._buffer = []
            if upstream is None:
                return
            try:
                async for delta in upstream:
                    self._observe(delta)
                    yield delta
            except (ProviderError, httpx.HTTPError) as exc:
                assert self.model is not None
                failure = exc if isinstance(exc, ProviderError) else transport_error(exc)
                self._call.failed(self.model, failure)
                raise StreamInterrupted(failure) from None
        finally:
            await self.aclose()

    def _observe(self, delta: Delta) -> None:
        if delta.usage is not None:
            self.usage = delta.usage
            self._call.settle(delta.usage)
        if delta.finish_reason:
            self.finish_reason = delta.finish_reason

    async def aclose(self) -> None:
        """Stop reading; the upstream request is closed (it stops generating)."""
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            await _close(upstream)

    async def __aenter__(self) -> RoutedStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def _close(iterator: AsyncIterator[Delta]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # a broken upstream must not mask the real error
            logger.debug("closing an upstream stream failed", exc_info=True)


__all__ = [
    "COOLDOWN_ON",
    "Attempt",
    "Call",
    "Completion",
    "Route",
    "RoutedStream",
    "StreamInterrupted",
    "received_at",
]
