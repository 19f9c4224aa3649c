"""The ``Ember`` application: options, route registration, plugin wiring, ASGI.

Everything plugins contribute is resolved here, once: options in
``__init__``, each route's injection plan and endpoint wrappers when the
route is registered, and the middleware stack at first start-up. Serving a
request is then a route lookup, the composed endpoint and the response.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from time import perf_counter
from types import SimpleNamespace
from typing import Any, TypeVar

from . import plugins as _plugins
from .errors import ConfigError, HTTPError, PluginConflictError, error_envelope
from .injection import build_plan
from .lifespan import call_maybe_async, run_all, run_lifespan
from .middleware import MiddlewareEntry, build_stack, check_middleware
from .records import AppOption, Injectable, PluginInfo, RouteDecorator
from .requests import DEFAULT_MAX_BODY_SIZE, ClientDisconnect, Request
from .responses import JSONResponse, Response, error_response, to_response
from .routing import Route, Router
from .types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("ember")

F = TypeVar("F", bound=Callable[..., Any])

# Route decorators of first-party plugins, to say which extra to install when
# one is missing. Third-party plugins cannot be named: they are not installed.
_FIRST_PARTY_DECORATORS = {"ai_route": "ember[ai]"}


class Ember:
    """An ASGI application.

    Core options are the named keyword arguments below; installed plugins add
    their own (``model_router=`` from ember-ai, say), found in ``app.options``.
    An option no one declares is a ``TypeError`` naming the valid ones.

    ``plugins`` registers extra plugin objects on this app only;
    ``load_entry_points=False`` ignores installed plugins (useful in tests).
    """

    def __init__(
        self,
        *,
        debug: bool = False,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        sse_ping_interval: float = 15.0,
        lifespan: Callable[[Ember], contextlib.AbstractAsyncContextManager[Any]] | None = None,
        plugins: Sequence[object] = (),
        load_entry_points: bool = True,
        **options: Any,
    ) -> None:
        if max_body_size <= 0:
            raise ConfigError("max_body_size must be a positive number of bytes")
        if sse_ping_interval <= 0:
            raise ConfigError("sse_ping_interval must be a positive number of seconds")
        self.debug = debug
        self.max_body_size = max_body_size
        self.sse_ping_interval = sse_ping_interval
        self.state = SimpleNamespace()
        self.router = Router()
        self._lifespan = lifespan
        self._startup: list[Callable[[], Any]] = []
        self._shutdown: list[Callable[[], Any]] = []
        self._user_middleware: list[MiddlewareEntry] = []
        self._asgi: ASGIApp | None = None
        self._lifespan_exit: contextlib.AsyncExitStack | None = None

        pm, infos = _plugins.make_plugin_manager(plugins, entry_points=load_entry_points)
        self.plugin_manager = pm
        self.plugins: list[PluginInfo] = infos
        self.options: dict[str, Any] = _parse_options(_plugins.collect_app_options(pm), options)
        self.route_options = {o.name: o for o in _plugins.collect_route_options(pm)}
        self.injectables: list[Injectable] = _plugins.collect_injectables(pm, self)
        for decorator in _plugins.collect_route_decorators(pm, self):
            self._attach(decorator)

    # ------------------------------------------------------------ plugins

    def _attach(self, decorator: RouteDecorator) -> None:
        if hasattr(type(self), decorator.name) or decorator.name in self.__dict__:
            raise PluginConflictError(
                f"a plugin adds app.{decorator.name}, which Ember already has"
            )
        self.__dict__[decorator.name] = decorator.decorator

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: explain missing plugin methods.
        extra = _FIRST_PARTY_DECORATORS.get(name)
        if extra is not None:
            raise AttributeError(
                f"'Ember' object has no attribute {name!r}: it is provided by {extra}; "
                f'install it with: pip install "{extra}"'
            )
        raise AttributeError(f"'Ember' object has no attribute {name!r}")

    @property
    def workers(self) -> int:
        """How many worker processes serve this app (from ``run``/``ember run``)."""
        value = os.environ.get("EMBER_WORKERS") or os.environ.get("WEB_CONCURRENCY") or "1"
        return int(value) if value.isdigit() else 1

    # ------------------------------------------------------------ routes

    def add_route(
        self,
        path: str,
        handler: Callable[..., Any],
        methods: Iterable[str] = ("GET",),
        *,
        name: str | None = None,
        max_body_size: int | None = None,
        injectables: Sequence[Injectable] = (),
        **route_options: Any,
    ) -> Route:
        """Register ``handler`` for ``path``; return the ``Route``.

        ``injectables`` are offered to this route only, ahead of the app's (a
        plugin's route decorator uses them for per-route values). Other keyword
        arguments are plugin route options, found in ``route.options``.
        """
        unknown = [
            k for k, v in route_options.items() if v is not None and k not in self.route_options
        ]
        if unknown:
            known = ", ".join(sorted(self.route_options)) or "none"
            raise ConfigError(
                f"route {path!r} got option(s) {', '.join(sorted(unknown))} that no installed "
                f"plugin handles (plugin route options: {known}). Is the plugin installed "
                f"and enabled?"
            )
        if max_body_size is not None and max_body_size <= 0:
            raise ConfigError(f"route {path!r}: max_body_size must be a positive number of bytes")
        method_set = frozenset(m.upper() for m in methods)
        if not method_set:
            raise ConfigError(f"route {path!r} has no methods")
        route = Route(
            path=path,
            methods=method_set,
            handler=handler,
            name=name or str(getattr(handler, "__name__", path)),
            endpoint=_unset_endpoint,
            max_body_size=self.max_body_size if max_body_size is None else max_body_size,
            options=dict(route_options),
        )
        call = build_plan(handler, route.compiled.param_names, [*injectables, *self.injectables])

        async def endpoint(request: Request) -> Response:
            result = await call(request)
            if type(result) is dict:  # the most common return, spared to_response's checks
                return JSONResponse(result)
            return result if isinstance(result, Response) else to_response(result)

        route.endpoint = _plugins.wrap_endpoint(self.plugin_manager, self, route, endpoint)
        self.router.add(route)
        return route

    def route(
        self, path: str, methods: Iterable[str] = ("GET",), **kwargs: Any
    ) -> Callable[[F], F]:
        """Decorator form of ``add_route``."""

        def decorator(handler: F) -> F:
            self.add_route(path, handler, methods, **kwargs)
            return handler

        return decorator

    def get(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route(path, ("GET",), **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route(path, ("POST",), **kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route(path, ("PUT",), **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route(path, ("PATCH",), **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route(path, ("DELETE",), **kwargs)

    @property
    def routes(self) -> list[Route]:
        return list(self.router.routes)

    # ------------------------------------------------------------ middleware & lifespan

    def add_middleware(self, middleware: Any, **kwargs: Any) -> None:
        """Add ASGI middleware; like Starlette, the last one added is outermost.

        Accepts an object with ``wrap(app)``, a class taking the app first
        (``kwargs`` go to it) or a function ``(app) -> app``.
        """
        if self._asgi is not None:
            raise RuntimeError("cannot add middleware after the app has started")
        self._user_middleware.append(check_middleware(middleware, kwargs))

    @property
    def middleware(self) -> tuple[Any, ...]:
        """The middleware added with ``add_middleware``, in the order added."""
        return tuple(entry.target for entry in self._user_middleware)

    def on_startup(self, handler: F) -> F:
        """Register a (sync or async) function to run at start-up."""
        self._startup.append(handler)
        return handler

    def on_shutdown(self, handler: F) -> F:
        """Register a (sync or async) function to run at shutdown."""
        self._shutdown.append(handler)
        return handler

    def _build_stack(self) -> ASGIApp:
        if self._asgi is None:
            plugin_middleware = [
                check_middleware(m, {})
                for m in _plugins.collect_middleware(self.plugin_manager, self)
            ]
            entries = [*reversed(self._user_middleware), *plugin_middleware]
            inner: ASGIApp = self._handle_http
            self._asgi = _guard(build_stack(inner, entries)) if entries else inner
        return self._asgi

    async def startup(self) -> None:
        """Run all start-up work (the lifespan protocol calls this)."""
        self._build_stack()
        for callback in _plugins.collect_callbacks(self.plugin_manager, "ember_startup", self):
            await call_maybe_async(callback)
        for handler in self._startup:
            await call_maybe_async(handler)
        if self._lifespan is not None:
            stack = contextlib.AsyncExitStack()
            await stack.enter_async_context(self._lifespan(self))
            self._lifespan_exit = stack

    async def shutdown(self) -> None:
        """Run all shutdown work (the lifespan protocol calls this)."""
        if self._lifespan_exit is not None:
            try:
                await self._lifespan_exit.aclose()
            except Exception:
                logger.exception("the lifespan context failed on exit")
        await run_all(list(self._shutdown), "shutdown handler")
        await run_all(
            _plugins.collect_callbacks(self.plugin_manager, "ember_shutdown", self),
            "plugin shutdown",
        )

    # ------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        kind = scope["type"]
        if kind == "http":
            # When Ember first saw the request: plugins report their own overhead
            # (queue and lock waits included) from here.
            scope["ember.received_at"] = perf_counter()
            await (self._asgi or self._build_stack())(scope, receive, send)
        elif kind == "lifespan":
            await run_lifespan(self.startup, self.shutdown, receive, send)
        elif kind == "websocket":
            # No websocket routes (yet): refuse the handshake cleanly.
            await send({"type": "websocket.close", "code": 1000})

    async def _handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            route, params = self.router.resolve(scope["method"], scope["path"])
        except HTTPError as error:
            await error_response(error)(scope, receive, send)
            return
        request = Request(scope, receive, params, route, route.max_body_size)
        try:
            response = await route.endpoint(request)
        except HTTPError as error:
            response = error_response(error)
        except ClientDisconnect:
            return
        except Exception as exc:
            response = self._unhandled(request, exc)
        await response(scope, receive, send)

    def _unhandled(self, request: Request, exc: Exception) -> Response:
        handled = _plugins.handle_exception(self.plugin_manager, request, exc)
        if handled is not None:
            return handled
        logger.error("unhandled error in %s %s", request.method, request.path, exc_info=exc)
        body = error_envelope(
            "The server had an error while processing your request.",
            "server_error",
            "internal_error",
        )
        if self.debug:
            body["error"]["traceback"] = "".join(traceback.format_exception(exc))
        return JSONResponse(body, status_code=500)

    # ------------------------------------------------------------ serving

    def run(
        self, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, **uvicorn_options: Any
    ) -> None:
        """Serve the app with uvicorn. With ``workers > 1`` or ``reload=True``
        uvicorn needs an import string; Ember finds the module that holds the app."""
        import uvicorn

        os.environ["EMBER_WORKERS"] = str(workers)
        if workers > 1 or uvicorn_options.get("reload"):
            target, app_dir = self._import_string()
            uvicorn.run(
                target, host=host, port=port, workers=workers, app_dir=app_dir, **uvicorn_options
            )
        else:
            uvicorn.run(self, host=host, port=port, **uvicorn_options)

    def _import_string(self) -> tuple[str, str]:
        main = sys.modules.get("__main__")
        candidates = [main] if main is not None else []
        candidates += [m for n, m in list(sys.modules.items()) if n != "__main__" and m is not None]
        for module in candidates:
            for attribute, value in list(vars(module).items()):
                if value is not self:
                    continue
                if module is main:
                    spec = getattr(module, "__spec__", None)
                    if spec is not None and spec.name:
                        return f"{spec.name}:{attribute}", os.getcwd()
                    path = Path(getattr(module, "__file__", "") or "")
                    if path.suffix == ".py":
                        return f"{path.stem}:{attribute}", str(path.parent.resolve())
                    continue
                return f"{module.__name__}:{attribute}", os.getcwd()
        raise ConfigError(
            "several workers need an import string and Ember could not find the module "
            "holding this app; run `ember run module:app --workers N` instead"
        )


async def _unset_endpoint(request: Request) -> Response:
    raise AssertionError("endpoint used before its route was built")


def _guard(app: ASGIApp) -> ASGIApp:
    """Turn an exception raised by middleware into a 500 if nothing was sent yet."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unhandled error in middleware for %s", scope.get("path"))
            if started:
                raise
            body = error_envelope(
                "The server had an error while processing your request.",
                "server_error",
                "internal_error",
            )
            await JSONResponse(body, status_code=500)(scope, receive, send)

    return guarded


def _parse_options(declared: list[AppOption], given: dict[str, Any]) -> dict[str, Any]:
    valid = {option.name: option for option in declared}
    unknown = sorted(set(given) - set(valid))
    if unknown:
        core = [
            "debug",
            "load_entry_points",
            "max_body_size",
            "lifespan",
            "plugins",
            "sse_ping_interval",
        ]
        names = ", ".join(sorted([*core, *valid]))
        raise TypeError(
            f"Ember() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
            f"valid options are: {names}. Plugin options appear once their plugin is installed."
        )
    options: dict[str, Any] = {}
    for name, option in valid.items():
        if name not in given:
            options[name] = option.default
            continue
        try:
            options[name] = option.validate(given[name])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"Ember({name}=...): {exc}") from exc
    return options


__all__ = ["Ember"]
