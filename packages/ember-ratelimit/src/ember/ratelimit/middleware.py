"""``RateLimitMiddleware``: admit a request against its token budgets, then settle.

For each HTTP request the middleware, before the app runs:

1. finds the route and its ``TokenLimits`` (if any) and the client key;
2. estimates the request's tokens from its JSON body -- prompt plus the
   completion it may use (``max_tokens``, capped by the route);
3. reserves that from every budget that applies (global, per key, the route's
   per-key budget) and a concurrency slot, all or nothing, in one backend call;
4. refuses with 429 (``Retry-After``), 413 (can never fit) or 400 (prompt over
   the route's ``max_prompt_tokens``), or lets the request through.

When the response ends -- completed or abandoned by the client -- the
reservation is settled against the real usage (see ``meter``). Every admitted
response, and every 429, carries ``x-ratelimit-*-tokens`` headers. The body
streams through untouched.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import orjson
from ember.errors import HTTPError
from ember.responses import error_response
from ember.types import ASGIApp, Message, Receive, Scope, Send

from . import headers as _headers
from .backends.base import TOKENS, Backend, BackendUnavailable, Slot, Verdict
from .backends.memory import MemoryBackend
from .buckets import Budget, TokenBucket
from .estimate import (
    count_usage,
    estimate_prompt_tokens,
    looks_like_model_request,
    requested_completion_tokens,
)
from .keys import key_function
from .limits import TokenLimits
from .meter import Meter

logger = logging.getLogger("ember.ratelimit")

# Set in the scope once a request has been through admission, so an inner
# limiter does not admit it twice and a limited route can check it was.
ADMITTED = "ember.ratelimit"

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

# Lease ids: unique across processes and machines (random prefix), cheap per request.
_LEASE_PREFIX = os.urandom(8).hex() + "-"
_lease_numbers = itertools.count()


def _new_lease_prefix() -> None:
    global _LEASE_PREFIX
    _LEASE_PREFIX = os.urandom(8).hex() + "-"


os.register_at_fork(after_in_child=_new_lease_prefix)  # forked workers must not share ids


class RateLimitMiddleware:
    """Token budgets for every request, as ASGI middleware.

    ``app.add_middleware(RateLimitMiddleware(global_bucket=bucket))``. Options:

    - ``global_bucket``: one budget shared by every request;
    - ``key_bucket``: a budget of this size for each client key;
    - ``key``: how a client is known -- ``"api_key"`` (default), ``"ip"``,
      ``"header:<name>"`` or a function of the scope (see ``ember.ratelimit.keys``);
    - ``trusted_proxies``: addresses/networks whose ``X-Forwarded-For`` is believed;
    - ``max_concurrent_per_key``: requests one key may have in flight;
    - ``estimate_from_body``: read the JSON body and reserve its estimated
      tokens (prompt + completion) at admission. With ``False`` the body is not
      read, nothing is reserved, and only the real usage is charged when the
      response ends -- counting after the fact, like other gateways, which lets
      concurrent requests overspend;
    - ``default_completion_tokens``: reserved for a model request naming no
      ``max_tokens``;
    - ``backend``: ``MemoryBackend()`` (default, one process) or ``RedisBackend(url)``;
    - ``fail_open``: when the backend is unreachable, admit (True) or answer
      503 (False, the default);
    - ``shadow``: never refuse; log what would have been refused.

    Routes declaring ``token_limits=TokenLimits(...)`` are enforced by this
    middleware too, in the same atomic reservation.
    """

    def __init__(
        self,
        global_bucket: TokenBucket | None = None,
        *,
        estimate_from_body: bool = True,
        key_bucket: TokenBucket | None = None,
        key: str | Callable[[Scope], Any] = "api_key",
        trusted_proxies: Sequence[str] = (),
        max_concurrent_per_key: int | None = None,
        default_completion_tokens: int = 512,
        backend: Backend | None = None,
        fail_open: bool = False,
        shadow: bool = False,
    ) -> None:
        if max_concurrent_per_key is not None and max_concurrent_per_key <= 0:
            raise ValueError("max_concurrent_per_key must be positive")
        if default_completion_tokens < 0:
            raise ValueError("default_completion_tokens must not be negative")
        self.global_bucket = global_bucket
        self._global = (
            Budget("global", global_bucket.capacity, global_bucket.refill_rate, "global")
            if global_bucket is not None
            else None
        )
        self.key_bucket = key_bucket
        self.estimate_from_body = estimate_from_body
        self.key = key_function(key, trusted_proxies)
        self.max_concurrent_per_key = max_concurrent_per_key
        self.default_completion_tokens = default_completion_tokens
        self.backend: Backend = backend if backend is not None else MemoryBackend()
        self.fail_open = fail_open
        self.shadow = shadow
        # The plugin's own instance enforces route limits only, for apps that
        # declare token_limits without adding this middleware.
        self.routes_only = False
        self._last_outage_log = 0.0

    def __repr__(self) -> str:
        return (
            f"RateLimitMiddleware(global_bucket={self.global_bucket!r}, "
            f"backend={type(self.backend).__name__}, shadow={self.shadow})"
        )

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or ADMITTED in scope:
                await app(scope, receive, send)
                return
            await self._admit(app, scope, receive, send)

        return limited

    # ------------------------------------------------------------ admission

    async def _admit(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        route, limits = _route_limits(scope)
        if self.routes_only and limits is None:
            await app(scope, receive, send)
            return
        payload: Any = None
        if scope["method"] in _BODY_METHODS and (self.estimate_from_body or limits is not None):
            payload, receive = await _read_json(scope, receive, route)

        # The estimate also prices a streamed reply's prompt at settlement.
        prompt = estimate_prompt_tokens(payload) if payload is not None else 0
        state = _state(scope)
        completion = self._completion(payload, limits, state)
        if limits is not None and limits.max_prompt_tokens and prompt > limits.max_prompt_tokens:
            refusal = _headers.prompt_too_long(limits.max_prompt_tokens, prompt)
            if not self._shadow_pass(scope, refusal):
                await error_response(refusal)(scope, receive, send)
                return

        route_tpm = limits.tokens_per_minute if limits is not None and route is not None else None
        keyed = self.key_bucket is not None or route_tpm or self.max_concurrent_per_key
        client = self.key(scope) if keyed else ""
        budgets: list[Budget] = []
        if self._global is not None:
            budgets.append(self._global)
        if self.key_bucket is not None:
            bucket = self.key_bucket
            budgets.append(Budget(f"key:{client}", bucket.capacity, bucket.refill_rate, "per-key"))
        if route_tpm:
            budgets.append(
                Budget(f"route:{route.path}:{client}", route_tpm, route_tpm / 60, route.path)
            )
        slots: list[Slot] = []
        if self.max_concurrent_per_key:
            slots.append(Slot(f"conc:{client}", self.max_concurrent_per_key))

        cost = (prompt if self.estimate_from_body else 0) + completion
        for budget in budgets:
            if cost > budget.capacity:
                refusal = _headers.request_too_large(budget.label, budget.capacity, cost)
                if self._shadow_pass(scope, refusal):
                    scope[ADMITTED] = None
                    await app(scope, receive, send)
                else:
                    await error_response(refusal)(scope, receive, send)
                return

        if not budgets and not slots:
            scope[ADMITTED] = None
            await app(scope, receive, send)
            return

        lease = f"{_LEASE_PREFIX}{next(_lease_numbers)}"
        try:
            verdict = await self.backend.reserve(budgets, cost, slots, lease)
        except BackendUnavailable as exc:
            self._log_outage(exc)
            if self.fail_open:
                scope[ADMITTED] = None
                await app(scope, receive, send)
            else:
                await error_response(_headers.limiter_unavailable())(scope, receive, send)
            return

        extra = _report(budgets, verdict)
        if not verdict.admitted:
            refusal = _refusal(budgets, slots, verdict, cost)
            if self._shadow_pass(scope, refusal):
                scope[ADMITTED] = None
                await app(scope, receive, send)
                return
            response = error_response(refusal)
            response.headers.update((k.decode(), v.decode()) for k, v in extra)
            await response(scope, receive, send)
            return

        scope[ADMITTED] = lease
        await self._run(app, scope, receive, send, extra, budgets, slots, cost, prompt, lease)

    def _completion(self, payload: Any, limits: TokenLimits | None, state: Any) -> int:
        """The completion tokens to reserve; caps the request for a limited route."""
        requested = requested_completion_tokens(payload)
        cap = limits.max_completion_tokens if limits is not None else None
        if cap:
            allowed = min(requested, cap) if requested else cap
            state.max_completion_tokens = allowed
            return allowed
        if requested is not None:
            return requested
        return self.default_completion_tokens if looks_like_model_request(payload) else 0

    # ------------------------------------------------------------ the request runs

    async def _run(
        self,
        app: ASGIApp,
        scope: Scope,
        receive: Receive,
        send: Send,
        extra: list[tuple[bytes, bytes]],
        budgets: list[Budget],
        slots: list[Slot],
        cost: int,
        prompt: int,
        lease: str,
    ) -> None:
        # A client that leaves mid-stream stops the sending; what was sent by
        # then is what the meter counted, so a disconnect needs no special case.
        meter = Meter()

        async def metered_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                raw = [*message.get("headers", ()), *extra]
                meter.start(message["status"], raw)
                message["headers"] = raw
            elif kind == "http.response.body":
                meter.feed(message.get("body", b""), message.get("more_body", False))
            await send(message)

        try:
            await app(scope, receive, metered_send)
        finally:
            used = _used(meter, scope.get("state"), prompt)
            # Nothing reserved and nothing owed: no settlement, no round trip.
            if cost or used or slots:
                settling = self._settle(budgets, cost, slots, lease, used)
                if isinstance(self.backend, MemoryBackend):
                    await settling
                else:  # a cancelled request must still settle
                    await asyncio.shield(settling)

    async def _settle(
        self, budgets: list[Budget], cost: int, slots: list[Slot], lease: str, used: int
    ) -> None:
        try:
            await self.backend.settle(budgets, cost, slots, lease, used)
        except BackendUnavailable as exc:
            # The lease returns the reservation when it times out.
            self._log_outage(exc, settling=True)

    # ------------------------------------------------------------ modes and logs

    def _shadow_pass(self, scope: Scope, refusal: HTTPError) -> bool:
        if not self.shadow:
            return False
        logger.warning(
            "ember.ratelimit shadow mode: would refuse %s %s with %d: %s",
            scope["method"],
            scope["path"],
            refusal.status,
            refusal.message,
        )
        return True

    def _log_outage(self, exc: BaseException, settling: bool = False) -> None:
        now = time.monotonic()
        if now - self._last_outage_log < 10.0:
            return  # one line per outage burst, not one per request
        self._last_outage_log = now
        if settling:
            logger.error(
                "ember.ratelimit: rate-limit backend unavailable while settling (%s); "
                "the reservation returns when its lease times out",
                exc,
            )
            return
        logger.error(
            "ember.ratelimit: rate-limit backend unavailable (%s); failing %s: %s",
            exc,
            "open" if self.fail_open else "closed",
            "requests are admitted without a budget"
            if self.fail_open
            else "requests are refused with 503",
        )


def _route_limits(scope: Scope) -> tuple[Any, TokenLimits | None]:
    router = getattr(scope.get("app"), "router", None)
    if router is None:
        return None, None
    try:
        route, _ = router.resolve(scope["method"], scope["path"])
    except HTTPError:
        return None, None
    limits = route.options.get("token_limits")
    return route, limits if isinstance(limits, TokenLimits) else None


async def _read_json(scope: Scope, receive: Receive, route: Any) -> tuple[Any, Receive]:
    """Read a JSON body to estimate it, and a ``receive`` that replays it to the app.

    A body over the route's size limit is not read here (the app answers 413),
    nor is one whose content type is not JSON.
    """
    holder = route if route is not None else scope.get("app")
    limit = int(getattr(holder, "max_body_size", 1 << 20))
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            return None, receive
        if name == b"content-type" and b"json" not in value:
            return None, receive  # an upload, a form: not a model request, left to stream
    messages: list[Message] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > limit or not message.get("more_body", False):
            break

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    complete = messages[-1].get("type") == "http.request" and not messages[-1].get("more_body")
    if not complete or size > limit:
        return None, replay
    try:
        return orjson.loads(b"".join(chunks)), replay
    except orjson.JSONDecodeError:
        return None, replay  # the app answers malformed JSON with its own 400


def _state(scope: Scope) -> SimpleNamespace:
    """``scope["state"]`` as the namespace ``request.state`` reads and writes.

    Servers may hand a plain dict; replacing it here lets the handler's
    ``request.state.ember_usage`` reach this middleware.
    """
    state = scope.get("state")
    if type(state) is not SimpleNamespace:
        state = SimpleNamespace(**(state or {}))
        scope["state"] = state
    return state


def _used(meter: Meter, state: Any, prompt: int) -> int:
    """The tokens the request really used (see ``meter`` for the sources)."""
    reported = count_usage(getattr(state, "ember_usage", None))
    if reported is not None:
        return max(0, reported)
    if meter.usage:
        return sum(meter.usage.values())
    if meter.status is None or (meter.status >= 400 and not meter.completion_tokens):
        return 0  # refused or failed before any model output: nothing to charge
    return prompt + meter.completion_tokens


def _report(budgets: list[Budget], verdict: Verdict) -> list[tuple[bytes, bytes]]:
    if verdict.budget < 0:
        return []
    budget = budgets[verdict.budget]
    return _headers.token_headers(budget.capacity, verdict.remaining, verdict.reset)


def _refusal(budgets: list[Budget], slots: list[Slot], verdict: Verdict, cost: int) -> HTTPError:
    if verdict.reason == TOKENS:
        budget = budgets[verdict.budget]
        return _headers.too_many_tokens(
            budget.label, budget.capacity, verdict.remaining, cost, verdict.retry_after
        )
    return _headers.too_many_requests(slots[0].limit if slots else 0)


__all__ = ["ADMITTED", "RateLimitMiddleware"]
