"""The hooks through which ember-ratelimit plugs into Ember (entry point ``ratelimit``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ember import hookimpl
from ember.app import Ember
from ember.errors import ConfigError, HTTPError
from ember.records import Export, RouteOption
from ember.requests import Request
from ember.responses import Response
from ember.routing import Endpoint, Route

from .backends.memory import MemoryBackend
from .limits import TokenLimits
from .middleware import ADMITTED, RateLimitMiddleware

logger = logging.getLogger("ember.ratelimit")


@hookimpl
def ember_exports() -> Iterable[Export]:
    return [
        Export("TokenLimits", "ember.ratelimit.limits:TokenLimits"),
        Export("GlobalTokenBucket", "ember.ratelimit.buckets:GlobalTokenBucket"),
        Export("TokenBucket", "ember.ratelimit.buckets:TokenBucket"),
        Export("RateLimitMiddleware", "ember.ratelimit.middleware:RateLimitMiddleware"),
    ]


@hookimpl
def ember_route_options() -> Iterable[RouteOption]:
    return [
        RouteOption(
            "token_limits",
            "TokenLimits(tokens_per_minute, max_prompt_tokens, max_completion_tokens) "
            "enforced per client key by ember-ratelimit",
        )
    ]


@hookimpl
def ember_wrap_endpoint(app: Ember, route: Route, endpoint: Endpoint) -> Endpoint | None:
    limits = route.options.get("token_limits")
    if limits is None:
        return None
    if not isinstance(limits, TokenLimits):
        raise ConfigError(
            f"route {route.path!r}: token_limits must be a TokenLimits, got {type(limits).__name__}"
        )

    # The limits themselves are enforced by the middleware, before the body is
    # handed on; this guard makes sure a limited route never runs unlimited.
    async def limited(request: Request) -> Response:
        if ADMITTED not in request.scope:
            raise HTTPError(
                500,
                f"The token limits of {route.path} were not enforced, so the request is refused.",
                code="rate_limit_not_enforced",
            )
        return await endpoint(request)

    return limited


def _user_limiters(app: Ember) -> list[RateLimitMiddleware]:
    return [m for m in app.middleware if isinstance(m, RateLimitMiddleware)]


@hookimpl
def ember_middleware(app: Ember) -> Iterable[Any]:
    # Limited routes need a limiter even when the user added none.
    if _user_limiters(app):
        return []
    if not any("token_limits" in r.options and r.options["token_limits"] for r in app.routes):
        return []
    limiter = RateLimitMiddleware()
    limiter.routes_only = True
    app.state.ember_ratelimit_default = limiter
    return [limiter]


@hookimpl
def ember_startup(app: Ember) -> Callable[[], Awaitable[None]] | None:
    limiters = _user_limiters(app)
    default = getattr(app.state, "ember_ratelimit_default", None)
    if default is not None:
        limiters.append(default)
    in_memory = [m for m in limiters if isinstance(m.backend, MemoryBackend)]
    if in_memory and app.workers > 1:
        logger.warning(
            "ember.ratelimit: the in-memory rate-limit backend keeps budgets per process, and "
            "this app runs %d workers, so each worker admits the whole budget (%d times the "
            "limit in total). Use RateLimitMiddleware(backend=RedisBackend(url)) to share them.",
            app.workers,
            app.workers,
        )
    if not limiters:
        return None

    async def warm_up() -> None:
        # Load the tokenizer now, not on the first request (~0.2 s).
        from .estimate import encoding_for

        encoding_for(None)

    return warm_up


@hookimpl
def ember_shutdown(app: Ember) -> Callable[[], Awaitable[None]] | None:
    limiters = _user_limiters(app)
    if not limiters:
        return None

    async def close() -> None:
        for limiter in limiters:
            await limiter.backend.aclose()

    return close
