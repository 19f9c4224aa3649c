"""Middleware: how ``app.add_middleware`` and plugin middleware wrap the app.

Middleware is pure ASGI: each layer is an ASGI app around the next one, so a
streamed body passes through a layer message by message, never buffered.
Three forms are accepted, so that both Ember-style instances and the
Starlette-style classes users already have work:

- an object with ``wrap(app) -> app`` (e.g. ``RateLimitMiddleware(...)``);
- a class whose constructor takes the inner app first (``cls(app, **kwargs)``);
- a function ``(app) -> app``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .types import ASGIApp


@runtime_checkable
class Middleware(Protocol):
    """An object that wraps an ASGI app once, when the app starts."""

    def wrap(self, app: ASGIApp) -> ASGIApp: ...


@dataclass(frozen=True, slots=True)
class MiddlewareEntry:
    """One middleware as it was added, applied when the stack is built."""

    target: Any
    kwargs: dict[str, Any] = field(default_factory=dict)

    def apply(self, app: ASGIApp) -> ASGIApp:
        target = self.target
        if isinstance(target, Middleware):
            return target.wrap(app)
        if inspect.isclass(target) or callable(target):
            return target(app, **self.kwargs)  # type: ignore[no-any-return]
        raise TypeError(
            f"middleware must have wrap(app), be a class taking the app, or a function "
            f"(app) -> app; got {target!r}"
        )


def check_middleware(target: Any, kwargs: dict[str, Any]) -> MiddlewareEntry:
    if not (isinstance(target, Middleware) or callable(target)):
        raise TypeError(
            f"middleware must have wrap(app), be a class taking the app, or a function "
            f"(app) -> app; got {target!r}"
        )
    if kwargs and isinstance(target, Middleware):
        raise TypeError("keyword arguments are only for middleware classes")
    return MiddlewareEntry(target, dict(kwargs))


def build_stack(app: ASGIApp, entries: list[MiddlewareEntry]) -> ASGIApp:
    """Wrap ``app``; the first entry ends up outermost."""
    for entry in reversed(entries):
        app = entry.apply(app)
    return app


__all__ = ["Middleware", "MiddlewareEntry", "build_stack", "check_middleware"]
