"""Loading plugins from real entry points: fake distributions in a fresh process."""

from __future__ import annotations

import pytest
from ember import Ember, PluginLoadError, hookimpl
from fake_dists import Sandbox

OK_PLUGIN = """
    from ember import AppOption, hookimpl

    @hookimpl
    def ember_app_options():
        return [AppOption("ok_level", default=1, validate=int)]
"""

BROKEN_PLUGIN = """
    import ember_missing_dependency  # the plugin's own dependency is not installed
"""

DESCRIBE_APP = """
    import json
    from ember import Ember
    app = Ember()
    print(json.dumps([[p.name, p.distribution, p.version, list(p.hooks)]
                      for p in app.plugins if not p.builtin]))
"""

BUILD_APP_REPORTING_ERROR = """
    import json, traceback
    from ember import Ember
    try:
        Ember()
    except Exception as exc:
        print(json.dumps({
            "type": type(exc).__name__,
            "message": str(exc),
            "cause": type(exc.__cause__).__name__,
            "traceback": "".join(traceback.format_exception(exc)),
        }))
    else:
        print(json.dumps(None))
"""


def test_entry_point_plugin_is_loaded_and_described(sandbox: Sandbox) -> None:
    sandbox.add_plugin("ok", OK_PLUGIN, version="1.2.3")

    assert sandbox.python(DESCRIBE_APP) == [["ok", "ember-ok", "1.2.3", ["ember_app_options"]]]


def test_entry_point_plugin_option_reaches_the_app(sandbox: Sandbox) -> None:
    sandbox.add_plugin("ok", OK_PLUGIN)

    level = sandbox.python(
        "import json; from ember import Ember; print(json.dumps(Ember(ok_level='7').options))"
    )
    assert level == {"ok_level": 7}


def test_plugins_are_registered_in_name_order(sandbox: Sandbox) -> None:
    for name in ("zeta", "alpha", "mid"):
        sandbox.add_plugin(name, "")

    assert [p[0] for p in sandbox.python(DESCRIBE_APP)] == ["alpha", "mid", "zeta"]


def test_plugin_modules_are_portions_of_the_ember_package(sandbox: Sandbox) -> None:
    """The fake plugin ships ember/ok/ only, in a directory of its own."""
    sandbox.add_plugin("ok", OK_PLUGIN)

    files = sandbox.python(
        "import json, ember, ember.ok.plugin; "
        "print(json.dumps([ember.__file__, ember.ok.plugin.__file__]))"
    )
    assert files[0].startswith(str(sandbox.site))
    assert files[1] == str(sandbox.root / "ember" / "ok" / "plugin.py")


def test_import_error_stops_the_app_naming_the_plugin(sandbox: Sandbox) -> None:
    sandbox.add_plugin("broken", BROKEN_PLUGIN, version="0.3.0")

    error = sandbox.python(BUILD_APP_REPORTING_ERROR)

    assert error["type"] == "PluginLoadError"
    assert "'broken'" in error["message"]
    assert "ember-broken==0.3.0" in error["message"]
    assert "EMBER_DISABLE_PLUGINS=broken" in error["message"]
    assert "ember_missing_dependency" in error["message"]


def test_import_error_keeps_the_original_traceback(sandbox: Sandbox) -> None:
    sandbox.add_plugin("broken", BROKEN_PLUGIN)

    error = sandbox.python(BUILD_APP_REPORTING_ERROR)

    assert error["cause"] == "ModuleNotFoundError"
    assert "direct cause of the following exception" in error["traceback"]
    assert str(sandbox.root / "ember" / "broken" / "plugin.py") in error["traceback"]


def test_disable_env_skips_a_broken_plugin(sandbox: Sandbox) -> None:
    sandbox.add_plugin("ok", OK_PLUGIN)
    sandbox.add_plugin("broken", BROKEN_PLUGIN)

    described = sandbox.python(DESCRIBE_APP, env={"EMBER_DISABLE_PLUGINS": "broken"})

    assert [p[0] for p in described] == ["ok"]


def test_disable_env_takes_a_comma_list(sandbox: Sandbox) -> None:
    for name in ("one", "two", "three"):
        sandbox.add_plugin(name, "")

    described = sandbox.python(DESCRIBE_APP, env={"EMBER_DISABLE_PLUGINS": "one, three"})

    assert [p[0] for p in described] == ["two"]


def test_load_env_empty_loads_no_plugin(sandbox: Sandbox) -> None:
    sandbox.add_plugin("ok", OK_PLUGIN)
    sandbox.add_plugin("broken", BROKEN_PLUGIN)

    assert sandbox.python(DESCRIBE_APP, env={"EMBER_LOAD_PLUGINS": ""}) == []


def test_load_env_list_loads_only_those(sandbox: Sandbox) -> None:
    for name in ("one", "two", "three"):
        sandbox.add_plugin(name, "")
    sandbox.add_plugin("broken", BROKEN_PLUGIN)

    described = sandbox.python(DESCRIBE_APP, env={"EMBER_LOAD_PLUGINS": "three,one"})

    assert [p[0] for p in described] == ["one", "three"]


def test_app_can_ignore_entry_points(sandbox: Sandbox) -> None:
    sandbox.add_plugin("broken", BROKEN_PLUGIN)

    names = sandbox.python(
        "import json; from ember import Ember; "
        "print(json.dumps([p.name for p in Ember(load_entry_points=False).plugins]))"
    )
    assert names == ["ember.builtin"]


def test_misspelled_hook_fails_when_the_app_is_built(sandbox: Sandbox) -> None:
    sandbox.add_plugin(
        "typo",
        """
        from ember import hookimpl

        @hookimpl
        def ember_app_option():
            return []
        """,
    )

    error = sandbox.python(BUILD_APP_REPORTING_ERROR)

    assert error["type"] == "PluginValidationError"
    assert "ember_app_option" in error["message"]


def test_hook_with_a_wrong_argument_fails_when_the_app_is_built(sandbox: Sandbox) -> None:
    sandbox.add_plugin(
        "wrongarg",
        """
        from ember import hookimpl

        @hookimpl
        def ember_injectables(application):
            return []
        """,
    )

    error = sandbox.python(BUILD_APP_REPORTING_ERROR)

    assert error["type"] == "PluginValidationError"
    assert "application" in error["message"]


def test_unknown_option_lists_valid_options_with_plugin_ones(sandbox: Sandbox) -> None:
    sandbox.add_plugin("ok", OK_PLUGIN)

    error = sandbox.python(
        """
        import json
        from ember import Ember
        try:
            Ember(unknown=1)
        except TypeError as exc:
            print(json.dumps(str(exc)))
        """
    )

    assert "'unknown'" in error
    for option in ("ok_level", "debug", "max_body_size", "sse_ping_interval", "plugins"):
        assert option in error


def test_env_variables_accept_distribution_names(sandbox: Sandbox) -> None:
    for name in ("one", "two", "three"):
        sandbox.add_plugin(name, "")

    described = sandbox.python(
        DESCRIBE_APP,
        env={"EMBER_LOAD_PLUGINS": "ember-one,ember-two", "EMBER_DISABLE_PLUGINS": "ember-two"},
    )

    assert [p[0] for p in described] == ["one"]


def test_hook_returning_something_else_than_records_names_the_plugin() -> None:
    class ReturnsStrings:
        @hookimpl
        def ember_app_options(self) -> list[str]:
            return ["verbose"]

    with pytest.raises(PluginLoadError, match=r"ReturnsStrings.*'verbose'.*AppOption"):
        Ember(plugins=[ReturnsStrings()], load_entry_points=False)
