"""Hooks ember-ai adds to Ember's plugin manager (through ``ember_add_hookspecs``).

Implement them with ``@ember.hookimpl`` like any core hook.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ember.app import Ember
    from ember.requests import Request

    from .providers.base import Provider

_spec = pluggy.HookspecMarker("ember")


@_spec
def ember_ai_principal(
    app: Ember,
) -> Callable[[Request], str | Awaitable[str | None] | None] | None:
    """Tell ember-ai who is making a request, so sessions belong to someone.

    Called: once per app, when the app is built (never per request).
    Receives: the app.
    Returns: ``None``, or a function ``(request) -> str | None`` (sync or
    async) naming the request's principal: an API key, a user id. Each
    request asks the functions of every plugin in turn; the first non-empty
    answer wins. When there is one, the session store key includes a hash of
    it, so a session id used by another principal is unknown to them and they
    get a fresh session.

    .. versionadded:: 0.1
    """


@_spec
def ember_ai_providers() -> Mapping[str, Provider] | None:
    """Add model providers a ``ModelSpec(provider=...)`` can name.

    Called: when an app with ``Ember(model_router=...)`` is built, and by a
    router on its own the first time a ModelSpec names a provider it does
    not know (it then asks every installed ``ember`` entry-point plugin).
    Receives: nothing.
    Returns: ``None``, or a mapping of provider name to a provider object
    (see ``ember.ai.providers.base.Provider``: a ``name`` and an async
    generator method ``stream(spec, request, client)`` yielding ``Delta``s).
    Providers given to ``ModelRouter(providers=...)`` win over these.

    .. versionadded:: 0.1
    """
