"""Test helpers for plugin authors: an opt-in pytest plugin.

Enable it in your root ``conftest.py`` (or in a test module)::

    pytest_plugins = ["ember.testing"]

It is never loaded on its own: ember-core declares no ``pytest11`` entry
point, so installing Ember changes nobody's test run. Importing this module
imports no pytest (pytest brings itself along when it loads the plugin), and
no HTTP client at all: ember-core depends on none. Talk to the app with the
client of your choice, e.g. ``httpx.AsyncClient(transport=httpx.ASGITransport(app=app))``
inside ``async with running(app)``. The fixtures:

- ``make_app(*plugins, **options)``: an ``Ember`` app with *installed*
  plugins ignored (``load_entry_points=False``) and ``plugins`` registered, so
  a test sees exactly the plugins it names;
- ``app``: ``make_app()``; override it in your ``conftest.py`` to add yours;
- ``started_app``: ``app`` with its start-up work run before the test and its
  shutdown work after (needs pytest-asyncio), for in-process clients, which
  do not speak the lifespan protocol;
- ``ember_plugin``: the ``registered`` context manager below.

The same helpers work without pytest: ``build_app``, ``registered`` and
``running``. (PYTEST_DONT_REWRITE: this module has no asserts to rewrite,
and tests may import it before pytest loads it as a plugin.)
"""

from __future__ import annotations

import contextlib
import importlib
import types
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .app import Ember


def build_app(*plugins: object, **options: Any) -> Ember:
    """An app holding only the core and ``plugins``; installed plugins are ignored."""
    return Ember(plugins=plugins, load_entry_points=False, **options)


@contextlib.contextmanager
def registered(plugin: object, /, **options: Any) -> Iterator[Ember]:
    """Register ``plugin`` on one fresh app for the ``with`` block.

    Each app has its own plugin manager, so nothing leaks into other tests or
    apps; on exit the plugin is unregistered from this app as well, so an app
    kept by mistake no longer calls it.
    """
    app = build_app(plugin, **options)
    try:
        yield app
    finally:
        app.plugin_manager.unregister(plugin)


@contextlib.asynccontextmanager
async def running(app: Ember) -> AsyncIterator[Ember]:
    """``app`` with its start-up work run on entry and its shutdown work on exit.

    In-process clients (``httpx.ASGITransport``) do not speak the lifespan
    protocol, so the app's start-up work (plugin ``ember_startup`` hooks
    included) is run here.
    """
    await app.startup()
    try:
        yield app
    finally:
        await app.shutdown()


# ----------------------------------------------------------------- fixtures


def _make_app() -> Callable[..., Ember]:
    return build_app


def _app(make_app: Callable[..., Ember]) -> Ember:
    return make_app()


async def _started_app(app: Ember) -> AsyncIterator[Ember]:
    async with running(app):
        yield app


def _ember_plugin() -> Callable[..., contextlib.AbstractContextManager[Ember]]:
    return registered


def pytest_configure(config: Any) -> None:
    """Register the fixtures; pytest calls this when the plugin is enabled."""
    # Imported here, not at the top, so that this module never needs pytest
    # unless pytest itself is loading it.
    if config.pluginmanager.has_plugin("ember.testing.fixtures"):
        return
    pytest = importlib.import_module("pytest")
    try:
        async_fixture = importlib.import_module("pytest_asyncio").fixture
    except ImportError:  # anyio's pytest plugin can still run it
        async_fixture = pytest.fixture
    fixtures = types.ModuleType("ember.testing.fixtures")
    for name, function, decorate in [
        ("make_app", _make_app, pytest.fixture),
        ("app", _app, pytest.fixture),
        ("started_app", _started_app, async_fixture),
        ("ember_plugin", _ember_plugin, pytest.fixture),
    ]:
        setattr(fixtures, name, decorate(function, name=name))
    config.pluginmanager.register(fixtures, "ember.testing.fixtures")


__all__ = ["build_app", "registered", "running"]
