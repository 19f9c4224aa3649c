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
import functools
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
from .meter import Meter, tells_nothing

logger = logging.getLogger("ember.ratelimit")

# Set in the scope once a request has been through admission, so an inner
# limiter does not admit it twice and a limited route can check it was.
ADMITTED = "ember.ratelimit"

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_NO_SLOTS: list[Slot] = []  # shared, never changed

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
        # Built once: every request draws on the same global budget.
        self._globals = (
            [Budget("global", global_bucket.capacity, global_bucket.refill_rate, "global")]
            if global_bucket is not None
            else []
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
        self._reported: tuple[Verdict | None, _headers.Headers] = (None, ())

    def __repr__(self) -> str:
        return (
            f"RateLimitMiddleware(global_bucket={self.global_bucket!r}, "
            f"backend={type(self.backend).__name__}, shadow={self.shadow})"
        )

    def wrap(self, app: ASGIApp) -> ASGIApp:
        # Decided once, when the app starts. The in-memory backend never waits,
        # so it is called directly, not through a coroutine; a backend that can
        # answer a request reserving nothing from what it already knows
        # (``peek``) is asked that first.
        memory = self.backend if type(self.backend) is MemoryBackend else None
        peek: Callable[[Sequence[Budget]], Verdict | None] | None = getattr(
            self.backend, "peek", None
        )
        # A partial, not a closure calling a method: one coroutine per request, not two.
        return functools.partial(self._admit, app, memory, peek)

    # ------------------------------------------------------------ admission

    async def _admit(
        self,
        app: ASGIApp,
        memory: MemoryBackend | None,
        peek: Callable[[Sequence[Budget]], Verdict | None] | None,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        if scope["type"] != "http" or ADMITTED in scope:
            await app(scope, receive, send)
            return
        route, limits = _route_limits(scope)
        prompt = completion = 0
        route_tpm = None
        if limits is None:
            if self.routes_only:
                await app(scope, receive, send)
                return
            if self.estimate_from_body and scope["method"] in _BODY_METHODS:
                payload, receive = await _read_json(scope, receive, route)
                # The estimate also prices a streamed reply's prompt at settlement.
                if payload is not None:
                    prompt = estimate_prompt_tokens(payload)
                    completion = self._completion(payload, None, scope)
        else:
            payload = None
            if scope["method"] in _BODY_METHODS:
                payload, receive = await _read_json(scope, receive, route)
                if payload is not None:
                    prompt = estimate_prompt_tokens(payload)
            completion = self._completion(payload, limits, scope)
            if limits.max_prompt_tokens and prompt > limits.max_prompt_tokens:
                refusal = _headers.prompt_too_long(limits.max_prompt_tokens, prompt)
                if not self._shadow_pass(scope, refusal):
                    await error_response(refusal)(scope, receive, send)
                    return
            if route is not None:
                route_tpm = limits.tokens_per_minute

        slots: list[Slot] = _NO_SLOTS
        if self.key_bucket is None and not route_tpm and not self.max_concurrent_per_key:
            budgets = self._globals  # the usual case: nothing per client to look up
        else:
            client = self.key(scope)
            budgets = [*self._globals]
            if self.key_bucket is not None:
                bucket = self.key_bucket
                budgets.append(
                    Budget(f"key:{client}", bucket.capacity, bucket.refill_rate, "per-key")
                )
            if route_tpm:
                budgets.append(
                    Budget(f"route:{route.path}:{client}", route_tpm, route_tpm / 60, route.path)
                )
            if self.max_concurrent_per_key:
                slots = [Slot(f"conc:{client}", self.max_concurrent_per_key)]

        cost = (prompt if self.estimate_from_body else 0) + completion
        if cost:
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

        # A request holding nothing needs no lease: nothing of it can be left behind.
        lease = f"{_LEASE_PREFIX}{next(_lease_numbers)}" if cost or slots else ""
        verdict = peek(budgets) if peek is not None and not cost and not slots else None
        if verdict is None and memory is not None:
            verdict = memory.reserve_now(budgets, cost, slots, lease)
        elif verdict is None:
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

        reported = self._reported
        if reported[0] is verdict:  # a full bucket's one answer: its headers are known
            extra = reported[1]
        else:
            extra = _report(budgets, verdict)
            self._reported = (verdict, extra)  # one assignment: safe for threads
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
        # The request runs. A client that leaves mid-stream stops the sending;
        # what was sent by then is what the meter counted, so a disconnect
        # needs no special case. The usual answer -- small JSON, all at once,
        # with no usage in it -- has nothing to meter: a meter is made only
        # for a body that may tell.
        meter: Meter | None = None
        status: int | None = None
        raw: list[tuple[bytes, bytes]] = []

        async def metered_send(message: Message) -> None:
            nonlocal meter, status, raw
            kind = message["type"]
            if kind == "http.response.body":
                body = message.get("body", b"")
                more = message.get("more_body", False)
                if meter is None and (more or not tells_nothing(body)):
                    meter = Meter()
                    meter.start(status or 0, raw)
                if meter is not None:
                    meter.feed(body, more)
            elif kind == "http.response.start":
                raw = [*message.get("headers", ()), *extra]
                status = message["status"]
                message["headers"] = raw
            await send(message)

        try:
            await app(scope, receive, metered_send)
        finally:
            usage = getattr(scope.get("state"), "ember_usage", None)
            if meter is None and usage is None:  # the usual case, in short
                used = prompt if status is not None and status < 400 else 0
            else:
                used = _used(meter, status, usage, prompt)
            # Nothing reserved and nothing owed: no settlement, no round trip.
            if cost or used or slots:
                if memory is not None:
                    memory.settle_now(budgets, cost, slots, lease, used)
                else:  # a cancelled request must still settle
                    await asyncio.shield(self._settle(budgets, cost, slots, lease, used))

    def _completion(self, payload: Any, limits: TokenLimits | None, scope: Scope) -> int:
        """The completion tokens to reserve; caps the request for a limited route."""
        requested = requested_completion_tokens(payload)
        cap = limits.max_completion_tokens if limits is not None else None
        if cap:
            allowed = min(requested, cap) if requested else cap
            _state(scope).max_completion_tokens = allowed
            return allowed
        if requested is not None:
            return requested
        return self.default_completion_tokens if looks_like_model_request(payload) else 0

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
    first = await receive()
    if first["type"] == "http.request" and not first.get("more_body", False):
        # The usual body: all in one message.
        body = first.get("body", b"")
        given = False

        async def replay_one() -> Message:
            nonlocal given
            if not given:
                given = True
                return first
            return await receive()

        if len(body) > limit:
            return None, replay_one
        try:
            return orjson.loads(body), replay_one
        except orjson.JSONDecodeError:
            return None, replay_one  # the app answers malformed JSON with its own 400

    messages: list[Message] = []
    chunks: list[bytes] = []
    size = 0
    message = first
    while True:
        if messages:
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


def _used(meter: Meter | None, status: int | None, usage: Any, prompt: int) -> int:
    """The tokens the request really used: ``usage`` as the handler reported it
    (``request.state.ember_usage``), else what the meter saw (see ``meter``)."""
    reported = count_usage(usage)
    if reported is not None:
        return max(0, reported)
    if meter is not None and meter.usage:
        return sum(meter.usage.values())
    completion = meter.completion_tokens if meter is not None else 0
    if status is None or (status >= 400 and not completion):
        return 0  # refused or failed before any model output: nothing to charge
    return prompt + completion


def _report(budgets: list[Budget], verdict: Verdict) -> _headers.Headers:
    if verdict.budget < 0:
        return ()
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
