"""Two plugins claiming one name: an error naming both, with their versions."""

from __future__ import annotations

import pytest
from ember import Ember, Injectable, PluginConflictError, RouteDecorator, hookimpl
from fake_dists import Sandbox

CLAIMS = {
    "option": """
        from ember import AppOption, hookimpl

        @hookimpl
        def ember_app_options():
            return [AppOption("shared")]
    """,
    "injectable": """
        from ember import Injectable, hookimpl

        @hookimpl
        def ember_injectables(app):
            return [Injectable("shared", lambda request: None)]
    """,
    "decorator": """
        from ember import RouteDecorator, hookimpl

        @hookimpl
        def ember_route_decorators(app):
            return [RouteDecorator("shared", lambda path: None)]
    """,
}

BUILD_APP = """
    import json
    from ember import Ember, PluginConflictError
    try:
        Ember()
    except PluginConflictError as exc:
        print(json.dumps(str(exc)))
"""


@pytest.mark.parametrize("kind", sorted(CLAIMS))
def test_conflict_names_both_distributions(sandbox: Sandbox, kind: str) -> None:
    sandbox.add_plugin("first", CLAIMS[kind], version="1.0")
    sandbox.add_plugin("second", CLAIMS[kind], version="2.5")

    message = sandbox.python(BUILD_APP)

    assert "'shared'" in message
    assert "first (ember-first==1.0)" in message
    assert "second (ember-second==2.5)" in message


def test_export_conflict_names_both_distributions(sandbox: Sandbox) -> None:
    exporter = """
        from ember import Export, hookimpl

        @hookimpl
        def ember_exports():
            return [Export("Shared", "json:dumps")]
    """
    sandbox.add_plugin("first", exporter, version="1.0")
    sandbox.add_plugin("second", exporter, version="2.5")

    message = sandbox.python(
        """
        import json
        try:
            from ember import Shared
        except Exception as exc:
            print(json.dumps(f"{type(exc).__name__}: {exc}"))
        """
    )

    assert message.startswith("PluginConflictError")
    assert "first (ember-first==1.0)" in message
    assert "second (ember-second==2.5)" in message


class _ByAnnotation:
    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def ember_injectables(self, app: Ember) -> list[Injectable]:
        return [Injectable(self.name, lambda request: None, annotation=int)]


def test_two_injectables_for_one_annotation_conflict() -> None:
    class Other(_ByAnnotation):
        pass

    with pytest.raises(PluginConflictError, match=r"'one'.*'two'.*int"):
        Ember(plugins=[_ByAnnotation("one"), Other("two")], load_entry_points=False)


class _ShadowsGet:
    @hookimpl
    def ember_route_decorators(self, app: Ember) -> list[RouteDecorator]:
        return [RouteDecorator("get", lambda path: None)]


def test_decorator_may_not_shadow_an_ember_method() -> None:
    with pytest.raises(PluginConflictError, match=r"app\.get"):
        Ember(plugins=[_ShadowsGet()], load_entry_points=False)


def test_two_distributions_claiming_one_plugin_name_conflict(sandbox: Sandbox) -> None:
    sandbox.add_dist("ember-hello", "1.0", {"hello": "ember.hello.plugin"})
    sandbox.add_dist("hello-fork", "9.9", {"hello": "hello_fork.plugin"})

    message = sandbox.python(BUILD_APP)

    assert "'hello'" in message
    assert "ember-hello==1.0" in message
    assert "hello-fork==9.9" in message
    assert "EMBER_DISABLE_PLUGINS=hello" in message


def test_cli_reports_a_conflict_without_a_traceback(sandbox: Sandbox) -> None:
    sandbox.add_dist("ember-hello", "1.0", {"hello": "ember.hello.plugin"})
    sandbox.add_dist("hello-fork", "9.9", {"hello": "hello_fork.plugin"})

    done = sandbox.run("-m", "ember.cli", "plugins")

    assert done.returncode == 1
    assert "Conflicting plugins" in done.stderr
    assert "Traceback" not in done.stderr
