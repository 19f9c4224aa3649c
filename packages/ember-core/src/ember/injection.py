"""Injection plans: which value each handler parameter gets, decided once.

At registration every parameter of a handler is matched, in this order, to
the request (annotation ``Request``), a path parameter (by name), an
injectable (by annotation, then by name; the route's own first, then the
app's), or its default. A parameter that matches nothing is a ``ConfigError``
raised at registration, so a request never pays for reflection and never
fails on a typo.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio.to_thread

from .errors import ConfigError
from .records import Injectable
from .requests import Request

Getter = Callable[[Request], Any]
HandlerCall = Callable[[Request], Awaitable[Any]]


def _request_itself(request: Request) -> Request:
    return request


def _path_param(name: str) -> Getter:
    def get(request: Request) -> Any:
        return request.path_params[name]

    return get


def _signature(handler: Callable[..., Any]) -> inspect.Signature:
    try:
        return inspect.signature(handler, eval_str=True)
    except (NameError, TypeError):
        # Annotations naming things imported only under TYPE_CHECKING stay strings.
        return inspect.signature(handler)


def _annotation_matches(annotation: Any, wanted: type | None) -> bool:
    if wanted is None or annotation is inspect.Parameter.empty:
        return False
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1] == wanted.__name__
    return isinstance(annotation, type) and issubclass(annotation, wanted)


def _find(parameter: inspect.Parameter, injectables: Sequence[Injectable]) -> Injectable | None:
    for injectable in injectables:
        if _annotation_matches(parameter.annotation, injectable.annotation):
            return injectable
    for injectable in injectables:
        if injectable.name == parameter.name:
            return injectable
    return None


def build_plan(
    handler: Callable[..., Any],
    path_params: Sequence[str],
    injectables: Sequence[Injectable],
) -> HandlerCall:
    """Return ``call(request)`` that invokes ``handler`` with its parameters.

    ``injectables`` is searched in order, so pass the route's own before the
    app's. Sync handlers run in a worker thread so they cannot block the loop.
    """
    positional: list[tuple[Getter, bool]] = []
    keyword: list[tuple[str, Getter, bool]] = []
    for parameter in _signature(handler).parameters.values():
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        getter = _getter_for(handler, parameter, path_params, injectables)
        if getter is None:  # has a default and nothing to fill it
            continue
        provide, is_async = getter
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY or (
            parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and not keyword
        ):
            positional.append((provide, is_async))
        else:
            keyword.append((parameter.name, provide, is_async))

    if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - callable objects with async __call__
    ):
        invoke: Callable[..., Awaitable[Any]] = handler
    elif inspect.isasyncgenfunction(handler):
        invoke = _returning(handler)
    else:
        invoke = _in_thread(handler)

    if not keyword and not any(is_async for _, is_async in positional):
        if len(positional) == 1 and positional[0][0] is _request_itself:
            return invoke  # the common `async def handler(request)`: no indirection
        getters = [provide for provide, _ in positional]
        # No- and one-argument handlers are most of them: spare them the list.
        if not getters:

            def call_no_args(request: Request) -> Awaitable[Any]:
                return invoke()

            return call_no_args
        if len(getters) == 1:
            get = getters[0]

            def call_one_arg(request: Request) -> Awaitable[Any]:
                return invoke(get(request))

            return call_one_arg

        def call_sync_args(request: Request) -> Awaitable[Any]:
            return invoke(*[get(request) for get in getters])

        return call_sync_args

    async def call(request: Request) -> Any:
        args = []
        for provide, is_async in positional:
            value = provide(request)
            args.append(await value if is_async else value)
        kwargs = {}
        for name, provide, is_async in keyword:
            value = provide(request)
            kwargs[name] = await value if is_async else value
        return await invoke(*args, **kwargs)

    return call


def _getter_for(
    handler: Callable[..., Any],
    parameter: inspect.Parameter,
    path_params: Sequence[str],
    injectables: Sequence[Injectable],
) -> tuple[Getter, bool] | None:
    if _annotation_matches(parameter.annotation, Request):
        return _request_itself, False
    if parameter.name in path_params:
        return _path_param(parameter.name), False
    injectable = _find(parameter, injectables)
    if injectable is not None:
        provide = injectable.provide
        return provide, inspect.iscoroutinefunction(provide)
    if parameter.default is not inspect.Parameter.empty:
        return None
    available = sorted({"request", *path_params, *(i.name for i in injectables)})
    name = getattr(handler, "__qualname__", repr(handler))
    raise ConfigError(
        f"cannot resolve parameter {parameter.name!r} of handler {name}: it is not a path "
        f"parameter, nothing injects it and it has no default. "
        f"Available here: {', '.join(available)}."
    )


def _returning(handler: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    # An async generator function returns its generator; route wrappers decide
    # what a generator means (ember-ai streams it as tokens).
    async def call(*args: Any, **kwargs: Any) -> Any:
        return handler(*args, **kwargs)

    return call


def _in_thread(handler: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(functools.partial(handler, *args, **kwargs))

    return call


def request_injectable() -> Injectable:
    """The core's own injectable: a parameter named ``request``."""
    return Injectable("request", _request_itself, Request, "the current Request")


__all__ = ["build_plan", "request_injectable"]
