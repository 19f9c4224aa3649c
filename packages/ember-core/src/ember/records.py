"""The typed records plugins hand to the core through the collector hooks.

A hook that adds something to Ember returns a list of these records rather than
mutating the app: the core can then validate them, list them (``ember plugins``)
and report conflicts between plugins in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .requests import Request


def _accept(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class AppOption:
    """A keyword argument of ``Ember(...)`` that a plugin understands.

    ``validate`` receives the user's value and returns the value to store in
    ``app.options[name]``; it raises ``TypeError`` or ``ValueError`` to refuse it.
    """

    name: str
    default: Any = None
    validate: Callable[[Any], Any] = _accept
    doc: str = ""


@dataclass(frozen=True, slots=True)
class RouteOption:
    """A keyword argument of route registration that a plugin consumes.

    Route options reach plugins through ``route.options``; a non-``None`` option
    that no plugin declared is a ``ConfigError`` at registration, so that, say,
    ``token_limits=`` never silently means "unlimited".
    """

    name: str
    doc: str = ""


@dataclass(frozen=True, slots=True)
class RouteDecorator:
    """A method that appears on every ``Ember`` app, such as ``app.ai_route``."""

    name: str
    decorator: Callable[..., Any]
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Injectable:
    """A handler parameter a plugin can supply.

    A parameter matches when its annotation is ``annotation`` (or a subclass),
    else when its name is ``name``. ``provide(request)`` returns the value, or an
    awaitable of it; it runs once per request for each handler that asks.
    """

    name: str
    provide: Callable[[Request], Any | Awaitable[Any]]
    annotation: type | None = None
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Export:
    """A name importable from ``ember`` that a plugin provides lazily.

    ``target`` is an import string, ``"package.module:attribute"``, resolved on
    the first ``from ember import <name>``.
    """

    name: str
    target: str


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One plugin as ``ember plugins`` lists it."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...] = field(default=())
    builtin: bool = False


__all__ = ["AppOption", "Export", "Injectable", "PluginInfo", "RouteDecorator", "RouteOption"]
