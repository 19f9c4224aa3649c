"""ember-hello's hook implementations: the module the entry point names.

Every hook here runs once, while the app is built or starts; none runs per
request. The per-request work is the injectable's ``provide`` and the
middleware, both decided here and then only called.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from ember import (
    AppOption,
    Ember,
    Export,
    Injectable,
    PlainTextResponse,
    RouteDecorator,
    hookimpl,
)

from .greeter import Greeter
from .middleware import HelloHeaderMiddleware


def _greeting(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"greeting must be a non-empty string, got {value!r}")
    return value


@hookimpl
def ember_app_options() -> list[AppOption]:
    # Ember(greeting="Howdy") -> app.options["greeting"] == "Howdy"
    return [AppOption("greeting", default="Hello", validate=_greeting, doc="how to greet")]


@hookimpl
def ember_injectables(app: Ember) -> list[Injectable]:
    # One Greeter per app, built now; each request only gets handed it.
    greeter = Greeter(app.options["greeting"])
    return [Injectable("greeter", lambda request: greeter, Greeter, "the app's Greeter")]


@hookimpl
def ember_route_decorators(app: Ember) -> list[RouteDecorator]:
    greeter = Greeter(app.options["greeting"])

    def hello_route(path: str, **route_options: Any) -> Callable[[Any], Any]:
        """Like ``app.get``, but the handler returns a name and the reply greets it."""

        def decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
            # functools.wraps keeps the handler's signature visible, so Ember
            # still injects path parameters and `greeter` into it.
            @functools.wraps(handler)
            async def greet(*args: Any, **kwargs: Any) -> PlainTextResponse:
                name = handler(*args, **kwargs)
                if inspect.isawaitable(name):
                    name = await name
                return PlainTextResponse(greeter.greet(name))

            app.add_route(path, greet, ("GET",), **route_options)
            return handler

        return decorator

    return [RouteDecorator("hello_route", hello_route, "GET route that greets a name")]


@hookimpl
def ember_middleware(app: Ember) -> list[Any]:
    return [functools.partial(HelloHeaderMiddleware, greeting=app.options["greeting"])]


@hookimpl
def ember_exports() -> list[Export]:
    # `from ember import Greeter` imports ember.hello.greeter only when first used.
    return [Export("Greeter", "ember.hello.greeter:Greeter")]
