"""Paths, converters and the route table: which endpoint serves a request.

Static paths are found with one dict lookup; paths with parameters are tried
in registration order. A path that exists with other methods answers 405 with
``Allow``; ``HEAD`` is served by the ``GET`` route.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, HTTPError

if TYPE_CHECKING:
    from .requests import Request
    from .responses import Response

Endpoint = Callable[["Request"], Awaitable["Response"]]


@dataclass(frozen=True, slots=True)
class Converter:
    """How a path parameter is matched (``regex``) and turned into a value."""

    regex: str
    convert: Callable[[str], Any]


CONVERTERS: dict[str, Converter] = {
    "str": Converter(r"[^/]+", str),
    "int": Converter(r"-?[0-9]+", int),
    "float": Converter(r"-?[0-9]+(?:\.[0-9]+)?", float),
    "path": Converter(r".*", str),
    "uuid": Converter(
        r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
        uuid.UUID,
    ),
}

_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-zA-Z_][a-zA-Z0-9_]*))?}")


@dataclass(frozen=True, slots=True)
class CompiledPath:
    regex: re.Pattern[str] | None  # None for a path without parameters
    converters: Mapping[str, Callable[[str], Any]]

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.converters)


def compile_path(path: str) -> CompiledPath:
    """Compile ``/items/{id:int}`` into a regex and the converter per parameter."""
    if not path.startswith("/"):
        raise ConfigError(f"a route path must start with '/': {path!r}")
    pattern = "^"
    converters: dict[str, Callable[[str], Any]] = {}
    position = 0
    for match in _PARAM.finditer(path):
        name, kind = match.group(1), match.group(2) or "str"
        if kind not in CONVERTERS:
            raise ConfigError(
                f"unknown converter {kind!r} in {path!r}; known: {', '.join(sorted(CONVERTERS))}"
            )
        if name in converters:
            raise ConfigError(f"path parameter {name!r} appears twice in {path!r}")
        pattern += re.escape(path[position : match.start()])
        pattern += f"(?P<{name}>{CONVERTERS[kind].regex})"
        converters[name] = CONVERTERS[kind].convert
        position = match.end()
    if not converters:
        return CompiledPath(None, {})
    pattern += re.escape(path[position:]) + "$"
    return CompiledPath(re.compile(pattern), converters)


@dataclass(eq=False)
class Route:
    """One registered path with its methods, handler and plugin options."""

    path: str
    methods: frozenset[str]
    handler: Callable[..., Any]
    name: str
    endpoint: Endpoint
    max_body_size: int
    options: dict[str, Any] = field(default_factory=dict)
    compiled: CompiledPath = field(init=False)

    def __post_init__(self) -> None:
        self.compiled = compile_path(self.path)

    def match(self, path: str) -> dict[str, Any] | None:
        regex = self.compiled.regex
        if regex is None:
            return {} if path == self.path else None
        found = regex.match(path)
        if found is None:
            return None
        params = found.groupdict()
        try:
            for name, convert in self.compiled.converters.items():
                params[name] = convert(params[name])
        except ValueError:
            return None
        return params

    def __repr__(self) -> str:
        return f"<Route {sorted(self.methods)} {self.path} -> {self.name}>"


class Router:
    """The route table of one app."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._static: dict[str, dict[str, Route]] = {}  # path → method → route
        self._dynamic: list[Route] = []

    def add(self, route: Route) -> None:
        if route.compiled.regex is None:
            by_method = self._static.setdefault(route.path, {})
            for method in route.methods:
                if method in by_method:
                    raise ConfigError(f"{method} {route.path} is registered twice")
                by_method[method] = route
        else:
            for other in self._dynamic:
                twice = other.path == route.path and other.methods & route.methods
                if twice:
                    raise ConfigError(f"{min(twice)} {route.path} is registered twice")
            self._dynamic.append(route)
        self.routes.append(route)

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, Any]]:
        """The route and path parameters for a request, or HTTPError 404/405."""
        by_method = self._static.get(path)
        if by_method is not None:
            route = by_method.get(method)
            if route is None and method == "HEAD":
                route = by_method.get("GET")
            if route is not None:
                return route, {}
        for route in self._dynamic:
            params = route.match(path)
            if params is not None and (
                method in route.methods or (method == "HEAD" and "GET" in route.methods)
            ):
                return route, params
        raise self._refusal(method, path)

    def _refusal(self, method: str, path: str) -> HTTPError:
        """404, or 405 with ``Allow`` when the path exists for other methods.

        Kept off ``resolve``'s path: only a request that matched nothing pays for it.
        """
        allowed = set(self._static.get(path, ()))
        for route in self._dynamic:
            if route.match(path) is not None:
                allowed |= route.methods
        if allowed:
            if "GET" in allowed:
                allowed.add("HEAD")
            allow = ", ".join(sorted(allowed))
            return HTTPError(
                405,
                f"Method {method} is not allowed for {path}; allowed: {allow}.",
                headers={"allow": allow},
            )
        return HTTPError(404, f"Unknown request URL: {method} {path}.")


__all__ = ["CONVERTERS", "Converter", "Endpoint", "Route", "Router", "compile_path"]
