"""``ModelRouter``: choosing a model for a request, and calling it with fallback.

``select()`` only chooses (the seed's API). ``complete()`` and ``stream()``
also call: they try the candidates in the strategy's order and move on when a
call fails *before its first content token* (the commit point). Until then
nothing has reached the client, so a fallback is invisible and the status code
is true; after it, a failure is reported in the stream, never hidden.

Every strategy skips a model that is cooling down after a failure, whose
``context_window`` cannot hold the prompt, or that lacks ``supports_tools``
when tools are sent; ``Route`` records why, and becomes the
``x-ember-route-*`` response headers. This module chooses; one request's
trip through the chosen candidates is ``ember.ai.fallback``'s.
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from ember.errors import HTTPError

from .fallback import (
    Attempt,
    Call,
    Completion,
    Route,
    RoutedStream,
    StreamInterrupted,
    received_at,
)
from .providers import builtin_providers
from .providers.base import ChatRequest, FailureClass, Provider, ProviderError
from .tokens import count_text

logger = logging.getLogger("ember.ai.router")


class RoutingStrategy(enum.StrEnum):
    """How a router orders its candidate models for one request."""

    FALLBACK = "fallback"  # the configured order: the first healthy model
    CHEAPEST = "cheapest"  # lowest estimated cost of this request
    FASTEST = "fastest"  # lowest measured latency; unmeasured models first
    ROUND_ROBIN = "round_robin"  # rotate, one turn per select()


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model a router may use. Prices are per token.

    ``endpoint`` is the full URL or the base URL of the API (an
    OpenAI-compatible server: ``http://127.0.0.1:8000/v1``); empty means the
    provider's public API. The key itself is never stored: ``api_key_env``
    names the environment variable read at call time, so no repr, log or error
    can show it. ``upstream_model`` is the model id sent upstream when it
    differs from ``name``.
    """

    name: str
    provider: str
    endpoint: str = ""
    api_key_env: str | None = None
    max_tokens: int = 4096
    context_window: int = 8192
    cost_per_input_token: float = 0.0
    cost_per_output_token: float = 0.0
    supports_tools: bool = False
    upstream_model: str | None = None
    extra_headers: Mapping[str, str] = field(
        default_factory=dict, repr=False, compare=False, hash=False
    )

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    @property
    def model_id(self) -> str:
        """The model name sent upstream."""
        return self.upstream_model or self.name


DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)

# Failures after which the next candidate is tried (ModelRouter(fallback_on=...)).
DEFAULT_FALLBACK_ON = frozenset(
    {
        FailureClass.CONNECT,
        FailureClass.TIMEOUT,
        FailureClass.RATE_LIMIT,
        FailureClass.SERVER,
        FailureClass.CONTEXT_LENGTH,
        FailureClass.CONTENT_POLICY,
        FailureClass.AUTH,
        FailureClass.STREAM,
    }
)


def count_prompt(messages: Sequence[Mapping[str, Any]], tools: Sequence[Any] | None = None) -> int:
    """Tokens of an OpenAI-shaped prompt (the OpenAI cookbook's recipe),
    tool definitions included: what the context window has to hold."""
    total = 3
    for message in messages:
        total += 3 + count_text(str(message.get("role", "")))
        content = message.get("content")
        if isinstance(content, str):
            total += count_text(content)
        elif isinstance(content, list):
            total += sum(count_text(str(p.get("text", ""))) for p in content if isinstance(p, dict))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            total += count_text(str(function.get("name", "")))
            total += count_text(str(function.get("arguments", "")))
        if message.get("name"):
            total += 1 + count_text(str(message["name"]))
    if tools:
        import orjson

        total += count_text(orjson.dumps(list(tools)).decode())
    return total


class ModelRouter:
    """Chooses among ``models`` with ``strategy``, and calls them with fallback.

    Options (all keyword-only):

    - ``timeout``: httpx timeouts for provider calls (seconds or ``httpx.Timeout``);
      one pooled client is shared by every call (``max_connections``).
    - ``first_token_timeout``: a model that has not produced content by then
      counts as timed out and the next candidate is tried.
    - ``fallback_on``: the failure classes that move on to the next candidate;
      others are returned to the caller at once.
    - ``cooldown``: seconds a failing model rests when the upstream gave no
      ``Retry-After``.
    - ``wait_for_cooldown``: seconds a request may wait for the earliest
      cooldown to end when every candidate rests (0: fail at once).
    - ``redis_url``: share the ROUND_ROBIN rotation across processes.
    - ``transport``: an httpx transport for the shared client (e.g.
      ``httpx_aiohttp.AiohttpTransport()``, whose C HTTP parser costs less per
      streamed chunk than httpx's default); default: httpx's own.
    - ``providers``: extra providers by name, besides the built-in ``openai``,
      ``openai_compatible``, ``anthropic`` and ``local`` and those that
      plugins register through the ``ember_ai_providers`` hook.
    """

    def __init__(
        self,
        models: Iterable[ModelSpec],
        strategy: RoutingStrategy | str = RoutingStrategy.FALLBACK,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        first_token_timeout: float | None = 30.0,
        fallback_on: Iterable[FailureClass | str] = DEFAULT_FALLBACK_ON,
        cooldown: float = 30.0,
        wait_for_cooldown: float = 0.0,
        redis_url: str | None = None,
        redis_prefix: str = "ember:router",
        providers: Mapping[str, Provider] | None = None,
        max_connections: int = 100,
        latency_smoothing: float = 0.3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.models = list(models)
        if not self.models:
            raise ValueError("ModelRouter needs at least one ModelSpec")
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"ModelSpec names must be unique, got {names}")
        self.strategy = RoutingStrategy(strategy)
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.first_token_timeout = first_token_timeout
        self.fallback_on = frozenset(FailureClass(f) for f in fallback_on)
        self.cooldown = cooldown
        self.wait_for_cooldown = wait_for_cooldown
        self.providers: dict[str, Provider] = {**builtin_providers(), **(providers or {})}
        self._given = set(providers or ())
        self._searched_plugins = False
        self.max_connections = max_connections
        self.transport = transport
        self.latency_smoothing = latency_smoothing
        self._by_name = {m.name: m for m in self.models}
        self._cooldown_until: dict[str, float] = {}
        self._ttft: dict[str, float] = {}
        self._latency: dict[str, float] = {}
        self._turns = itertools.count()  # next() is atomic: safe across threads too
        self._client: httpx.AsyncClient | None = None
        self._redis_url = redis_url
        self._redis: Any = None
        self._redis_warned = -60.0
        digest = hashlib.sha256("\0".join(names).encode()).hexdigest()[:16]
        self._rr_key = f"{redis_prefix}:rr:{digest}"

    def __repr__(self) -> str:
        return f"ModelRouter(models={[m.name for m in self.models]}, strategy={self.strategy})"

    # -- providers and the HTTP client -------------------------------------

    def add_provider(self, name: str, provider: Provider) -> None:
        """Make ``provider`` available to ModelSpecs with ``provider=name``."""
        self.providers[name] = provider
        self._given.add(name)

    def add_providers_from(self, plugin_manager: Any) -> None:
        """Add the providers plugins register through ``ember_ai_providers``
        (explicitly given providers keep precedence)."""
        hook = getattr(plugin_manager.hook, "ember_ai_providers", None)
        if hook is None:
            return
        for found in hook():
            for name, provider in (found or {}).items():
                if name not in self._given:
                    self.providers[name] = provider

    def provider(self, name: str) -> Provider | None:
        """The provider called ``name``; an unknown name makes the router look
        once through the installed plugins (the ``ember`` entry points)."""
        if name not in self.providers and not self._searched_plugins:
            self._searched_plugins = True
            from ember.plugins import make_plugin_manager

            self.add_providers_from(make_plugin_manager()[0])
        return self.providers.get(name)

    @property
    def client(self) -> httpx.AsyncClient:
        """The pooled httpx client every provider call goes through."""
        if self._client is None or self._client.is_closed:
            limits = httpx.Limits(
                max_connections=self.max_connections,
                max_keepalive_connections=self.max_connections,
            )
            transport = self.transport or _installed_fast_transport(limits)
            self._client = httpx.AsyncClient(
                timeout=self.timeout, limits=limits, transport=transport
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # -- health -----------------------------------------------------------

    def cooling_until(self, name: str) -> float:
        """The monotonic time ``name``'s cooldown ends (0 if it is healthy)."""
        until = self._cooldown_until.get(name, 0.0)
        return until if until > time.monotonic() else 0.0

    def cool_down(self, name: str, seconds: float | None = None) -> None:
        """Rest ``name`` for ``seconds`` (default: the router's ``cooldown``)."""
        rest = self.cooldown if seconds is None else seconds
        self._cooldown_until[name] = max(
            self._cooldown_until.get(name, 0.0), time.monotonic() + rest
        )

    def record_latency(self, name: str, seconds: float, *, first_token: bool) -> None:
        """Fold one measurement into the model's moving average."""
        table = self._ttft if first_token else self._latency
        previous = table.get(name)
        alpha = self.latency_smoothing
        table[name] = seconds if previous is None else alpha * seconds + (1 - alpha) * previous

    def measured_latency(self, name: str, *, streaming: bool) -> float | None:
        first, other = (self._ttft, self._latency) if streaming else (self._latency, self._ttft)
        return first.get(name, other.get(name))

    # -- choosing ----------------------------------------------------------

    async def _next_turn(self) -> int:
        if self._redis_url:
            try:
                if self._redis is None:
                    import redis.asyncio as aioredis

                    self._redis = aioredis.from_url(self._redis_url)
                return int(await self._redis.incr(self._rr_key)) - 1
            except Exception as exc:  # Redis down: rotate locally rather than fail
                now = time.monotonic()
                if now - self._redis_warned > 60:  # once a minute, not once a request
                    self._redis_warned = now
                    logger.warning(
                        "round robin rotates per process, Redis failed: %s", type(exc).__name__
                    )
        return next(self._turns)

    def _skip_reason(self, spec: ModelSpec, prompt_tokens: int, tools: bool) -> str | None:
        if self.provider(spec.provider) is None:
            return "unknown_provider"
        if tools and not spec.supports_tools:
            return "no_tools"
        if prompt_tokens > spec.context_window:
            return "context_window"
        if self.cooling_until(spec.name):
            return "cooldown"
        return None

    def _order(
        self,
        models: list[ModelSpec],
        prompt_tokens: int,
        max_tokens: int | None,
        streaming: bool,
        turn: int,
    ) -> list[ModelSpec]:
        if self.strategy is RoutingStrategy.CHEAPEST:

            def cost(m: ModelSpec) -> float:
                output = min(max_tokens or m.max_tokens, m.max_tokens)
                return prompt_tokens * m.cost_per_input_token + output * m.cost_per_output_token

            return sorted(models, key=cost)
        if self.strategy is RoutingStrategy.FASTEST:

            def speed(m: ModelSpec) -> tuple[int, float]:
                measured = self.measured_latency(m.name, streaming=streaming)
                return (0, 0.0) if measured is None else (1, measured)

            return sorted(models, key=speed)
        if self.strategy is RoutingStrategy.ROUND_ROBIN:
            start = turn % len(self.models)
            rotation = self.models[start:] + self.models[:start]
            return [m for m in rotation if m in models]
        return list(models)

    async def plan(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Any] | None = None,
        max_tokens: int | None = None,
        streaming: bool = True,
        first: ModelSpec | None = None,
        advance: bool = True,
    ) -> Route:
        """The candidates for one request, in the order they will be tried.

        ``advance`` takes a ROUND_ROBIN turn; ``first`` puts a model the
        application already chose ahead of the strategy's order.
        """
        route = Route(self.strategy, prompt_tokens=count_prompt(messages, tools))
        eligible = []
        for spec in self.models:
            reason = self._skip_reason(spec, route.prompt_tokens, bool(tools))
            if reason is None:
                eligible.append(spec)
            else:
                route.skipped.append((spec.name, reason))
        turn = 0
        if self.strategy is RoutingStrategy.ROUND_ROBIN and advance and first is None:
            turn = await self._next_turn()
        elif first is not None and first in self.models:
            turn = self.models.index(first)
        ordered = self._order(eligible, route.prompt_tokens, max_tokens, streaming, turn)
        if first is not None and first in ordered:
            ordered.remove(first)
            ordered.insert(0, first)
        route.candidates = [m.name for m in ordered]
        return route

    async def select(
        self,
        request: Any = None,
        context: Any = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        tools: Sequence[Any] | None = None,
        max_tokens: int | None = None,
    ) -> ModelSpec:
        """The model the strategy picks for this request (one ROUND_ROBIN turn).

        The prompt is ``messages`` or else the ``context``'s history; tools
        are ``tools`` or else those of the ai_route's ``tool_registry``.
        Raises ``HTTPError`` (503 or 400) when no model fits.
        """
        began = time.perf_counter()
        if messages is None:
            messages = _context_messages(context)
        if tools is None:
            tools = _route_tools(request)
        route = await self.plan(
            messages, tools=tools, max_tokens=_cap(request, max_tokens), streaming=True
        )
        if not route.candidates:
            raise self._no_candidates(route)
        route.model = route.candidates[0]
        route.overhead_ms = (time.perf_counter() - began) * 1000
        if request is not None:
            request.state.ember_route = route
        return self._by_name[route.model]

    def model(self, name: str) -> ModelSpec | None:
        return self._by_name.get(name)

    # -- calling -----------------------------------------------------------

    async def stream(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Any] | None = None,
        tool_choice: Any = None,
        max_tokens: int | None = None,
        model: ModelSpec | str | None = None,
        fallback: bool = True,
        request: Any = None,
        started_at: float | None = None,
        **params: Any,
    ) -> RoutedStream:
        """Start a streamed answer; returns once it is committed.

        Returns a ``RoutedStream`` holding the first content delta(s): iterate
        it for the rest. Raises ``HTTPError`` when no candidate produced a
        first token. ``model`` (a spec or a name) is tried first; with
        ``fallback=False`` it is the only candidate. ``request``, when given,
        receives ``state.ember_route`` and ``state.ember_usage`` and caps
        ``max_tokens`` at ``state.max_completion_tokens``; a request already
        routed (``select(request, ...)``) starts with the model chosen then.
        """
        chat = ChatRequest(
            [dict(m) for m in messages],
            list(tools) if tools else None,
            tool_choice,
            _cap(request, max_tokens),
            params,
        )
        call = Call(self, chat, request, started_at or received_at(request), streaming=True)
        routed = RoutedStream(call)
        await routed._start(self._first(model, request), fallback)
        return routed

    async def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Any] | None = None,
        tool_choice: Any = None,
        max_tokens: int | None = None,
        model: ModelSpec | str | None = None,
        fallback: bool = True,
        request: Any = None,
        started_at: float | None = None,
        **params: Any,
    ) -> Completion:
        """A whole answer, with fallback on any failure (nothing was sent yet)."""
        chat = ChatRequest(
            [dict(m) for m in messages],
            list(tools) if tools else None,
            tool_choice,
            _cap(request, max_tokens),
            params,
        )
        call = Call(self, chat, request, started_at or received_at(request), streaming=False)
        return await call.complete(self._first(model, request), fallback)

    def stream_tool_loop(
        self, context: Any, tools: Any, *, request: Any = None, max_steps: int = 8, **params: Any
    ) -> AsyncIterator[str]:
        """Stream an answer's tokens, running the tools it asks for in between
        (see ``ember.ai.routed_tools``); an ai_route may return it as is."""
        from .routed_tools import stream_tool_loop

        return stream_tool_loop(
            self, context, tools, request=request, max_steps=max_steps, **params
        )

    def tool_loop_model(self, request: Any = None, **params: Any) -> Any:
        """A ``call_model`` for ``run_tool_loop`` backed by ``complete()``."""
        from .routed_tools import tool_loop_model

        return tool_loop_model(self, request, **params)

    def _first(self, model: ModelSpec | str | None, request: Any) -> ModelSpec | None:
        """The model to try first: the one asked for, else the one this request
        was already routed to (by ``select()`` or an earlier call), so a
        request takes at most one ROUND_ROBIN turn however many calls it makes."""
        if model is not None:
            return self._pick(model)
        previous = getattr(getattr(request, "state", None), "ember_route", None)
        if isinstance(previous, Route) and previous.model:
            return self._by_name.get(previous.model)
        return None

    def _pick(self, model: ModelSpec | str | None) -> ModelSpec | None:
        if model is None or isinstance(model, ModelSpec):
            return model
        spec = self._by_name.get(model)
        if spec is None:
            raise HTTPError(
                404, f"The model '{model}' does not exist.", code="model_not_found", param="model"
            )
        return spec

    def _no_candidates(self, route: Route) -> HTTPError:
        reasons = ", ".join(f"{m} ({why})" for m, why in route.skipped) or "none configured"
        headers = route.headers()
        if any(why == "cooldown" for _, why in route.skipped):
            wait = min(
                (self.cooling_until(m) for m, why in route.skipped if why == "cooldown"),
                default=0.0,
            )
            if wait:
                headers["retry-after"] = str(max(1, round(wait - time.monotonic() + 0.5)))
            return HTTPError(
                503,
                f"No model is available for this request: {reasons}.",
                type="server_error",
                code="no_model_available",
                headers=headers,
            )
        code = (
            "context_length_exceeded"
            if all(why == "context_window" for _, why in route.skipped)
            else "no_model_fits"
        )
        return HTTPError(
            400, f"No model can take this request: {reasons}.", code=code, headers=headers
        )

    def _all_failed(self, route: Route) -> HTTPError:
        failed = [a for a in route.attempts if a.failure is not None]
        classes = sorted({a.failure.value for a in failed if a.failure is not None})
        detail = ", ".join(f"{a.model} ({a.failure})" for a in failed)
        headers = route.headers()
        # When the failed models all rest, say when the first one is back.
        ends = [self.cooling_until(a.model) for a in failed]
        if ends and all(ends):
            headers["retry-after"] = str(max(1, round(min(ends) - time.monotonic() + 0.5)))
        return HTTPError(
            503,
            f"Every candidate model failed ({', '.join(classes)}): {detail}.",
            type="server_error",
            code="all_models_failed",
            headers=headers,
        )

    def _error_for(self, error: ProviderError, route: Route) -> HTTPError:
        """A failure not configured for fallback, passed on to the client."""
        status = {
            FailureClass.CONTEXT_LENGTH: 400,
            FailureClass.CONTENT_POLICY: 400,
            FailureClass.BAD_REQUEST: error.status if error.status and error.status < 500 else 400,
            FailureClass.RATE_LIMIT: 429,
            FailureClass.TIMEOUT: 504,
            FailureClass.AUTH: 502,
        }.get(error.failure, 502)
        code = {
            FailureClass.CONTEXT_LENGTH: "context_length_exceeded",
            FailureClass.CONTENT_POLICY: "content_policy_violation",
            FailureClass.RATE_LIMIT: "rate_limit_exceeded",
        }.get(error.failure, error.failure.value)
        headers = route.headers()
        if error.retry_after is not None:
            headers["retry-after"] = str(max(1, round(error.retry_after)))
        return HTTPError(
            status, f"{route.model or 'upstream'}: {error.message}", code=code, headers=headers
        )


def with_route_headers(
    endpoint: Callable[[Any], Awaitable[Any]],
) -> Callable[[Any], Awaitable[Any]]:
    """Wrap an endpoint so its response carries ``x-ember-route-*`` headers
    when the handler routed the request (``select()``, ``stream()``, ...)."""

    async def endpoint_with_route_headers(request: Any) -> Any:
        response = await endpoint(request)
        route = getattr(request.state, "ember_route", None)
        headers = getattr(response, "headers", None)
        if isinstance(route, Route) and isinstance(headers, dict):
            for name, value in route.headers().items():
                headers.setdefault(name, value)
        return response

    return endpoint_with_route_headers


def _context_messages(context: Any) -> list[dict[str, Any]]:
    if context is None:
        return []
    return [m.to_openai() for m in context.get_messages()]


def _route_tools(request: Any) -> list[dict[str, Any]] | None:
    route = getattr(request, "route", None)
    config = getattr(route, "options", {}).get("ai_route") if route is not None else None
    registry = getattr(config, "tool_registry", None)
    if registry is not None and len(registry):
        specs: list[dict[str, Any]] = registry.to_openai_specs()
        return specs
    return None


def _installed_fast_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """httpx-aiohttp's transport when installed (``ember-ai[aiohttp]``), else httpx's own.

    Like uvicorn with uvloop and httptools: the same API, a C HTTP parser
    underneath, picked up when present. It costs a gateway about a third of
    the CPU per proxied answer (see docs/benchmarks.md, "Gateway").
    """
    try:
        module = importlib.import_module("httpx_aiohttp")
    except ImportError:
        return None
    transport: httpx.AsyncBaseTransport = module.AiohttpTransport(limits=limits)
    return transport


def _cap(request: Any, max_tokens: int | None) -> int | None:
    """``max_tokens`` no higher than the route's completion cap (ember-ratelimit's)."""
    state = getattr(request, "state", None)
    cap = getattr(state, "max_completion_tokens", None) if state is not None else None
    if isinstance(cap, int):
        return cap if max_tokens is None else min(cap, max_tokens)
    return max_tokens


__all__ = [
    "DEFAULT_FALLBACK_ON",
    "Attempt",
    "Completion",
    "ModelRouter",
    "ModelSpec",
    "Route",
    "RoutedStream",
    "RoutingStrategy",
    "StreamInterrupted",
    "count_prompt",
    "with_route_headers",
]
