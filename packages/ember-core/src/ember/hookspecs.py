"""Every hook a plugin may implement, with its contract.

Implement a hook with ``@ember.hookimpl`` in a module that the entry point of
group ``ember`` names. Hooks are called when the app is built, when a route is
registered or at start-up and shutdown -- never once per request, so a plugin
costs nothing on the hot path unless it wraps an endpoint or adds middleware.

Each docstring says, in order: when the hook is called, what it receives, what
it may return, and how results are combined.

Implementations are called in registration order -- the core's built-in
plugin, then installed plugins sorted by entry-point name, then the app's own
``plugins=[...]`` -- with ``tryfirst``/``trylast`` honoured. docs/hooks.md has
one section per hook, with an example.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .app import Ember
    from .records import AppOption, Export, Injectable, RouteDecorator, RouteOption
    from .requests import Request
    from .responses import Response
    from .routing import Endpoint, Route

_spec = pluggy.HookspecMarker("ember")
hookimpl = pluggy.HookimplMarker("ember")


@_spec(historic=True)
def ember_add_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    """Add a plugin's own hookspecs to the app's plugin manager.

    Called: once per plugin, when it is registered (historic: a plugin
    registered later is still called).
    Receives: the app's ``pluggy.PluginManager``.
    Returns: nothing; call ``plugin_manager.add_hookspecs(module)``.

    .. versionadded:: 0.1
    """


@_spec
def ember_app_options() -> Iterable[AppOption]:
    """Declare the keyword arguments of ``Ember(...)`` that a plugin reads.

    Called: once, in ``Ember.__init__``, before any option is parsed.
    Receives: nothing.
    Returns: an iterable of ``AppOption``. Results of all plugins are merged;
    two plugins declaring one name is a ``PluginConflictError``. Values end up
    in ``app.options[name]``; an option no plugin declares is a ``TypeError``.

    .. versionadded:: 0.1
    """


@_spec
def ember_route_options() -> Iterable[RouteOption]:
    """Declare the keyword arguments of route registration a plugin consumes.

    Called: once, in ``Ember.__init__``.
    Receives: nothing.
    Returns: an iterable of ``RouteOption``; merged like app options. A route
    registered with a non-``None`` option nobody declared is a ``ConfigError``.

    .. versionadded:: 0.1
    """


@_spec
def ember_route_decorators(app: Ember) -> Iterable[RouteDecorator]:
    """Add route-registering methods to the app, such as ``app.ai_route``.

    Called: once, in ``Ember.__init__``, after options are parsed.
    Receives: the app being built.
    Returns: an iterable of ``RouteDecorator``; each ``decorator`` becomes the
    attribute ``app.<name>``. A name that exists already on ``Ember`` or comes
    from two plugins is a ``PluginConflictError``.

    .. versionadded:: 0.1
    """


@_spec
def ember_injectables(app: Ember) -> Iterable[Injectable]:
    """Offer values that handlers can ask for by parameter name or annotation.

    Called: once, in ``Ember.__init__``; the results are consulted when each
    route's injection plan is built at registration, never per request.
    Receives: the app being built.
    Returns: an iterable of ``Injectable``. Two plugins offering the same name
    or annotation is a ``PluginConflictError``.

    .. versionadded:: 0.1
    """


@_spec
def ember_wrap_endpoint(app: Ember, route: Route, endpoint: Endpoint) -> Endpoint | None:
    """Wrap a route's endpoint, e.g. to enforce that route's limits.

    Called: once per route, when it is registered, after its injection plan is
    built. Plugins are called in turn and each receives the endpoint the
    previous one returned, so wrappers nest.
    Receives: the app, the ``Route`` (``route.options`` holds the plugin route
    options) and the endpoint, ``async (request) -> Response``.
    Returns: a new endpoint with the same signature, or ``None`` to leave the
    route alone (the cheap, common answer).

    .. versionadded:: 0.1
    """


@_spec
def ember_middleware(app: Ember) -> Iterable[Any]:
    """Add ASGI middleware around the app's router.

    Called: once, when the app handles its first lifespan or request event.
    Receives: the app.
    Returns: an iterable of middleware, in any form ``app.add_middleware``
    accepts (an object with ``wrap(app) -> app``, a class taking the inner
    app as first argument, or a function ``(app) -> app``). Plugin middleware
    sits inside the user's middleware, in plugin order.

    .. versionadded:: 0.1
    """


@_spec
def ember_exports() -> Iterable[Export]:
    """Name what ``from ember import <name>`` resolves to for this plugin.

    Called: once per process, on the first lazy lookup of a name that is not
    one of the core's own.
    Receives: nothing.
    Returns: an iterable of ``Export`` with import strings; they are imported
    only when the name is first used. Two plugins exporting one name is a
    ``PluginConflictError``.

    .. versionadded:: 0.1
    """


@_spec
def ember_startup(app: Ember) -> Callable[[], Awaitable[None]] | None:
    """Run start-up work, such as opening connection pools.

    Called: once per app, during ASGI lifespan start-up, before the user's own
    start-up handlers.
    Receives: the app.
    Returns: ``None``, or an async callable taking no arguments that Ember
    awaits. An exception fails start-up and the server does not serve.

    .. versionadded:: 0.1
    """


@_spec
def ember_shutdown(app: Ember) -> Callable[[], Awaitable[None]] | None:
    """Run shutdown work, such as closing connection pools.

    Called: once per app, during ASGI lifespan shutdown, after the user's own
    shutdown handlers.
    Receives: the app.
    Returns: ``None``, or an async callable taking no arguments that Ember
    awaits. Exceptions are logged and the other shutdown work still runs.

    .. versionadded:: 0.1
    """


@_spec(firstresult=True)
def ember_handle_exception(request: Request, exc: Exception) -> Response | None:
    """Turn an exception a handler raised into a response.

    Called: only when an endpoint raises something other than ``HTTPError``
    (so: per failing request, never per ordinary one).
    Receives: the request and the exception.
    Returns: a ``Response``, or ``None`` to let the next plugin or the core
    answer (the core answers 500 in the JSON error envelope). First result wins.

    .. versionadded:: 0.1
    """
