"""ember.testing: the opt-in pytest plugin for plugin authors."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from ember import Ember, Injectable, hookimpl
from fake_dists import Sandbox

pytest_plugins = ["ember.testing"]


class StartsUp:
    @hookimpl
    def ember_startup(self, app: Ember) -> Callable[[], Any]:
        async def start() -> None:
            app.state.started = True

        return start

    @hookimpl
    def ember_injectables(self, app: Ember) -> list[Injectable]:
        return [Injectable("started", lambda request: getattr(app.state, "started", False))]


@pytest.fixture
def app(make_app: Callable[..., Ember]) -> Ember:
    app = make_app(StartsUp())

    @app.get("/")
    async def index(started: bool) -> dict[str, bool]:
        return {"started": started}

    return app


def test_kit_is_never_loaded_by_installing_ember(sandbox: Sandbox) -> None:
    loaded = sandbox.python(
        """
        import json, sys
        from importlib.metadata import distribution
        import ember
        ember.Ember()
        eps = [ep.group for ep in distribution("ember-core").entry_points]
        print(json.dumps([eps, "ember.testing" in sys.modules, "pytest" in sys.modules]))
        """
    )
    assert loaded == [["console_scripts"], False, False]


def test_importing_the_kit_imports_neither_pytest_nor_httpx(sandbox: Sandbox) -> None:
    imported = sandbox.python(
        "import json, sys, ember.testing; "
        "print(json.dumps(['pytest' in sys.modules, 'httpx' in sys.modules]))"
    )
    assert imported == [False, False]


async def test_started_app_has_run_its_startup(started_app: Ember) -> None:
    transport = httpx.ASGITransport(app=started_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/")).json() == {"started": True}


def test_make_app_ignores_installed_plugins(make_app: Callable[..., Ember]) -> None:
    # ember-hello is installed in this environment; a test app still lacks it.
    assert [p.name for p in make_app().plugins] == ["ember.builtin"]
    assert "greeting" not in make_app().options


def test_ember_plugin_registers_for_the_block_only(
    ember_plugin: Callable[..., AbstractContextManager[Ember]],
) -> None:
    plugin = StartsUp()
    with ember_plugin(plugin) as app:
        assert app.plugin_manager.is_registered(plugin)
    assert not app.plugin_manager.is_registered(plugin)
