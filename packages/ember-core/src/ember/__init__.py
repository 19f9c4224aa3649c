"""Ember: a small, fast ASGI framework for LLM-backed APIs.

The core's names are imported here directly. Names that plugins provide
(``ConversationContext`` from ember-ai, ``TokenLimits`` from ember-ratelimit,
...) resolve lazily on first use, through the plugins' ``ember_exports`` hook;
a name whose plugin is not installed raises an ImportError naming the extra to
install. For type-checked code, import plugin names from their own package
(``from ember.ai import ConversationContext``): a lazy name is ``Any`` to mypy.
"""

# Plugin distributions install only their sub-package (``ember/ai``); extending
# the path lets editable installs, whose ``src/ember`` sit in different
# directories, still be found as parts of this package. It must come first.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

from typing import Any

from .app import Ember
from .datastructures import URL, Headers, QueryParams
from .errors import (
    ConfigError,
    EmberError,
    HTTPError,
    PluginConflictError,
    PluginError,
    PluginLoadError,
)
from .hookspecs import hookimpl
from .lifespan import StartupError
from .records import AppOption, Export, Injectable, RouteDecorator, RouteOption
from .requests import ClientDisconnect, Request
from .responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from .routing import Route
from .sse import ServerSentEvent, SSEResponse, TokenStreamResponse

__version__ = "0.1.0"

# Names first-party plugins export, and the extra that installs each. An absent
# plugin cannot speak for itself, so the core keeps this small table.
_PLUGIN_NAMES: dict[str, tuple[str, str]] = {
    name: ("ai", "ember-ai")
    for name in (
        "ConversationContext",
        "Message",
        "MessageRole",
        "ModelRouter",
        "ModelSpec",
        "RoutingStrategy",
        "ToolRegistry",
        "sse_stream",
    )
} | {
    name: ("ratelimit", "ember-ratelimit")
    for name in ("GlobalTokenBucket", "RateLimitMiddleware", "TokenLimits")
}

__all__ = [
    "URL",
    "AppOption",
    "ClientDisconnect",
    "ConfigError",
    "ConversationContext",
    "Ember",
    "EmberError",
    "Export",
    "GlobalTokenBucket",
    "HTMLResponse",
    "HTTPError",
    "Headers",
    "Injectable",
    "JSONResponse",
    "Message",
    "MessageRole",
    "ModelRouter",
    "ModelSpec",
    "PlainTextResponse",
    "PluginConflictError",
    "PluginError",
    "PluginLoadError",
    "QueryParams",
    "RateLimitMiddleware",
    "Request",
    "Response",
    "Route",
    "RouteDecorator",
    "RouteOption",
    "RoutingStrategy",
    "SSEResponse",
    "ServerSentEvent",
    "StartupError",
    "StreamingResponse",
    "TokenLimits",
    "TokenStreamResponse",
    "ToolRegistry",
    "hookimpl",
    "sse_stream",
]


def __getattr__(name: str) -> Any:
    """Resolve a plugin-provided name on first use (PEP 562)."""
    if name.startswith("__"):
        raise AttributeError(name)
    from . import plugins

    try:
        export = plugins.process_exports().get(name)
    except plugins.PluginLoadError as exc:
        # An installed but broken plugin: show its real error, not a vague one.
        cause = exc.__cause__
        raise (cause if isinstance(cause, Exception) else exc) from None
    if export is not None:
        value = plugins.resolve_import_string(export.target)
        globals()[name] = value
        return value
    if name in _PLUGIN_NAMES:
        plugin, distribution = _PLUGIN_NAMES[name]
        extra = f"ember[{plugin}]"
        if not plugins.installed(distribution):
            raise ImportError(
                f"cannot import name {name!r} from 'ember': it is provided by {distribution}, "
                f'which is not installed. Install it with: pip install "{extra}"',
                name=name,
            )
        if plugins.is_disabled(plugin):
            raise ImportError(
                f"cannot import name {name!r} from 'ember': plugin {plugin!r} ({distribution}) is "
                f"switched off by {plugins.DISABLE_ENV} or {plugins.LOAD_ENV}",
                name=name,
            )
        raise ImportError(
            f"cannot import name {name!r} from 'ember': {distribution} is installed but does "
            f"not export it (is {distribution} too old?)",
            name=name,
        )
    raise AttributeError(f"module 'ember' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
