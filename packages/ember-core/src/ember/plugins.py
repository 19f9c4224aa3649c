"""Finding, loading and calling plugins.

Plugins are modules named by entry points of group ``ember``; the entry
point's name is the plugin's name (``ai`` for ``ember-ai``). The entry points
are scanned and imported once per process, sorted by name so hook order never
depends on the filesystem. Each ``Ember`` app gets its own
``pluggy.PluginManager`` fed from that process-wide set, plus the app's own
``plugins=[...]``.

Environment:

- ``EMBER_DISABLE_PLUGINS=ai,hello`` skips the named plugins;
- ``EMBER_LOAD_PLUGINS=ratelimit`` loads only the named ones
  (``EMBER_LOAD_PLUGINS=`` loads none).

Both take plugin names or distribution names (``ember-ai`` is ``ai``).

A plugin that fails to import stops the app from being built: a server quietly
running without, say, its rate limiter is a hole, not a convenience.

The functions named ``collect_*`` are the typed façade over ``pm.hook``: every
hook call of the core goes through one of them, which checks what comes back.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from . import builtin, hookspecs
from .errors import PluginConflictError, PluginLoadError
from .records import AppOption, Export, Injectable, PluginInfo, RouteDecorator, RouteOption

if TYPE_CHECKING:
    from .app import Ember
    from .requests import Request
    from .responses import Response
    from .routing import Endpoint, Route

GROUP = "ember"
DISABLE_ENV = "EMBER_DISABLE_PLUGINS"
LOAD_ENV = "EMBER_LOAD_PLUGINS"


@dataclass(frozen=True, slots=True)
class LoadedPlugin:
    """A plugin module with where it came from."""

    name: str
    module: ModuleType
    distribution: str | None
    version: str | None


def _names_from_env(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    # "ember-ai" means plugin "ai": users may name the distribution they installed.
    return {name.strip().removeprefix("ember-") for name in value.split(",") if name.strip()}


@functools.cache
def _entry_points() -> tuple[metadata.EntryPoint, ...]:
    return tuple(sorted(metadata.entry_points(group=GROUP), key=lambda ep: ep.name))


def _describe(ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = ep.dist
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


_loaded: dict[str, LoadedPlugin] = {}


def load_entry_point_plugins() -> list[LoadedPlugin]:
    """Import every enabled entry-point plugin once per process, by name order.

    Raises ``PluginLoadError`` naming the plugin, its distribution and version,
    and the environment variable that would disable it.
    """
    disabled = _names_from_env(DISABLE_ENV) or set()
    only = _names_from_env(LOAD_ENV)
    plugins = []
    enabled = [
        ep
        for ep in _entry_points()
        if ep.name not in disabled and (only is None or ep.name in only)
    ]
    _refuse_shared_names(enabled)
    for ep in enabled:
        plugin = _loaded.get(ep.name)
        if plugin is None:
            distribution, version = _describe(ep)
            try:
                module = ep.load()
            except Exception as exc:
                where = f"{distribution}=={version}" if distribution else "an unknown distribution"
                raise PluginLoadError(
                    f"Error importing plugin {ep.name!r} ({ep.value}) from {where}: "
                    f"{type(exc).__name__}: {exc}. Fix or uninstall it, or start without it "
                    f"by setting {DISABLE_ENV}={ep.name}."
                ) from exc
            plugin = LoadedPlugin(ep.name, module, distribution, version)
            _loaded[ep.name] = plugin
        plugins.append(plugin)
    return plugins


def _refuse_shared_names(entry_points: Sequence[metadata.EntryPoint]) -> None:
    """Two distributions with one plugin name: neither may silently win."""
    by_name: dict[str, list[metadata.EntryPoint]] = {}
    for ep in entry_points:
        by_name.setdefault(ep.name, []).append(ep)
    for name, claims in by_name.items():
        if len(claims) > 1:
            owners = " and ".join(
                "{}=={}".format(*_describe(ep)) if ep.dist else ep.value for ep in claims
            )
            raise PluginConflictError(
                f"Conflicting plugins: the plugin name {name!r} is claimed by {owners}. "
                f"Uninstall one of them, or start without both by setting {DISABLE_ENV}={name}."
            )


def is_disabled(name: str) -> bool:
    """Whether the environment switches the plugin ``name`` off."""
    only = _names_from_env(LOAD_ENV)
    return name in (_names_from_env(DISABLE_ENV) or set()) or (
        only is not None and name not in only
    )


def make_plugin_manager(
    extra: Sequence[object] = (), *, entry_points: bool = True
) -> tuple[pluggy.PluginManager, list[PluginInfo]]:
    """A fresh plugin manager holding the core, entry-point and ``extra`` plugins."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    pm.hook.ember_add_hookspecs.call_historic(kwargs={"plugin_manager": pm})
    infos: list[PluginInfo] = []

    def register(
        plugin: object, name: str, dist: str | None, version: str | None, core: bool
    ) -> None:
        try:
            pm.register(plugin, name=name)
        except ValueError as exc:
            raise PluginConflictError(f"plugin {name!r} is registered twice: {exc}") from exc
        hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))
        infos.append(PluginInfo(name, dist, version, hooks, core))

    register(builtin, "ember.builtin", "ember-core", _version("ember-core"), True)
    if entry_points:
        for plugin in load_entry_point_plugins():
            register(plugin.module, plugin.name, plugin.distribution, plugin.version, False)
    for extra_plugin in extra:
        name = getattr(extra_plugin, "__name__", None) or type(extra_plugin).__name__
        # Two instances of one plugin class are two plugins; one object twice is an error.
        base, count = name, 1
        while pm.has_plugin(name) and pm.get_plugin(name) is not extra_plugin:
            count += 1
            name = f"{base}-{count}"
        register(extra_plugin, name, None, None, False)
    pm.check_pending()
    return pm, infos


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


# ---------------------------------------------------------------- the façade

T = TypeVar("T")


def _in_order(caller: Any) -> list[Any]:
    """A hook's implementations in registration order (core, then plugins by
    name, then the app's own), with ``tryfirst``/``trylast`` honoured.

    pluggy itself calls the newest first; collectors read more naturally, and
    wrappers nest more predictably, in the order plugins were registered.
    """
    impls = caller.get_hookimpls()
    return sorted(impls, key=lambda impl: 0 if impl.tryfirst else 2 if impl.trylast else 1)


def _call(impl: Any, **kwargs: Any) -> Any:
    # A hookimpl may accept fewer arguments than its spec offers (pluggy's rule).
    return impl.function(**{arg: kwargs[arg] for arg in impl.argnames})


def _owner(pm: pluggy.PluginManager, plugin: object) -> str:
    name = pm.get_name(plugin) or repr(plugin)
    loaded = _loaded.get(name)
    if loaded and loaded.distribution:
        return f"{name} ({loaded.distribution}=={loaded.version})"
    return name


def _collect(
    pm: pluggy.PluginManager,
    hook_name: str,
    kind: type[T],
    key: Callable[[T], Any],
    what: str,
    **kwargs: Any,
) -> list[T]:
    """Call a collector hook per plugin, check record types, refuse duplicates."""
    owners: dict[Any, str] = {}
    records: list[T] = []
    caller = getattr(pm.hook, hook_name)
    for impl in _in_order(caller):
        result = _call(impl, **kwargs)
        owner = _owner(pm, impl.plugin)
        for record in result or ():
            if not isinstance(record, kind):
                raise PluginLoadError(
                    f"plugin {owner} returned {record!r} from {hook_name}; expected {kind.__name__}"
                )
            record_key = key(record)
            if record_key is not None and record_key in owners:
                raise PluginConflictError(
                    f"Conflicting plugins: {what} {record_key!r} is provided by "
                    f"{owners[record_key]} and by {owner}."
                )
            if record_key is not None:
                owners[record_key] = owner
            records.append(record)
    return records


def collect_app_options(pm: pluggy.PluginManager) -> list[AppOption]:
    return _collect(pm, "ember_app_options", AppOption, lambda o: o.name, "the Ember option")


def collect_route_options(pm: pluggy.PluginManager) -> list[RouteOption]:
    return _collect(pm, "ember_route_options", RouteOption, lambda o: o.name, "the route option")


def collect_route_decorators(pm: pluggy.PluginManager, app: Ember) -> list[RouteDecorator]:
    return _collect(
        pm, "ember_route_decorators", RouteDecorator, lambda d: d.name, "the app method", app=app
    )


def collect_injectables(pm: pluggy.PluginManager, app: Ember) -> list[Injectable]:
    by_name = _collect(
        pm, "ember_injectables", Injectable, lambda i: i.name, "the injectable", app=app
    )
    annotated = [i for i in by_name if i.annotation is not None]
    seen: dict[type, str] = {}
    for injectable in annotated:
        assert injectable.annotation is not None
        if injectable.annotation in seen:
            raise PluginConflictError(
                f"Conflicting plugins: injectables {seen[injectable.annotation]!r} and "
                f"{injectable.name!r} both claim the annotation {injectable.annotation.__name__}."
            )
        seen[injectable.annotation] = injectable.name
    return by_name


def collect_middleware(pm: pluggy.PluginManager, app: Ember) -> list[Any]:
    middleware: list[Any] = []
    for impl in _in_order(pm.hook.ember_middleware):
        middleware.extend(_call(impl, app=app) or ())
    return middleware


def collect_callbacks(
    pm: pluggy.PluginManager, hook_name: str, app: Ember
) -> list[Callable[[], Any]]:
    callbacks = []
    for impl in _in_order(getattr(pm.hook, hook_name)):
        callback = _call(impl, app=app)
        if callback is not None:
            callbacks.append(callback)
    return callbacks


def wrap_endpoint(
    pm: pluggy.PluginManager, app: Ember, route: Route, endpoint: Endpoint
) -> Endpoint:
    for impl in _in_order(pm.hook.ember_wrap_endpoint):
        wrapped = _call(impl, app=app, route=route, endpoint=endpoint)
        if wrapped is not None:
            endpoint = wrapped
    return endpoint


def handle_exception(pm: pluggy.PluginManager, request: Request, exc: Exception) -> Response | None:
    """The first plugin's response to an unexpected handler exception, if any."""
    for impl in _in_order(pm.hook.ember_handle_exception):
        response = _call(impl, request=request, exc=exc)
        if response is not None:
            return response  # type: ignore[no-any-return]
    return None


# ----------------------------------------------------- lazy `from ember import X`


@functools.cache
def process_exports() -> dict[str, Export]:
    """Every name the process's entry-point plugins export, checked for conflicts."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    pm.hook.ember_add_hookspecs.call_historic(kwargs={"plugin_manager": pm})
    for plugin in load_entry_point_plugins():
        pm.register(plugin.module, name=plugin.name)
    return {
        e.name: e for e in _collect(pm, "ember_exports", Export, lambda e: e.name, "the export")
    }


def resolve_import_string(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def installed(distribution: str) -> bool:
    return _version(distribution) is not None


def plugin_infos(app_infos: Iterable[PluginInfo] | None = None) -> list[PluginInfo]:
    """The plugins of a fresh default app, as ``ember plugins`` lists them."""
    if app_infos is not None:
        return list(app_infos)
    _, infos = make_plugin_manager()
    return infos


__all__ = [
    "DISABLE_ENV",
    "GROUP",
    "LOAD_ENV",
    "LoadedPlugin",
    "PluginLoadError",
    "load_entry_point_plugins",
    "make_plugin_manager",
    "process_exports",
]
