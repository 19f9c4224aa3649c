"""``from ember import X`` for names that plugins provide."""

from __future__ import annotations

from fake_dists import Sandbox

IMPORT = """
    import json, sys
    try:
        from ember import {name}
    except Exception as exc:
        print(json.dumps([type(exc).__name__, str(exc), getattr(exc, "name", None)]))
    else:
        print(json.dumps(["ok", repr({name}), None]))
"""


def test_hook_ember_exports(sandbox: Sandbox) -> None:
    sandbox.add_dist(
        "ember-things",
        entry_points={"things": "ember.things.plugin"},
        files={
            "ember/things/__init__.py": "",
            "ember/things/plugin.py": """
                from ember import Export, hookimpl

                @hookimpl
                def ember_exports():
                    return [Export("Thing", "ember.things.heavy:Thing")]
            """,
            "ember/things/heavy.py": "class Thing:\n    pass\n",
        },
    )

    loaded = sandbox.python(
        """
        import json, sys
        import ember
        before = "ember.things.heavy" in sys.modules
        from ember import Thing
        from ember.things.heavy import Thing as Direct
        print(json.dumps([before, Thing is Direct]))
        """
    )
    assert loaded == [False, True]


def test_absent_first_party_plugin_names_its_extra(sandbox: Sandbox) -> None:
    kind, message, name = sandbox.python(IMPORT.format(name="ConversationContext"))

    assert kind == "ImportError"
    assert "ember-ai" in message
    assert 'pip install "ember[ai]"' in message
    assert name == "ConversationContext"


def test_absent_ratelimit_names_its_extra(sandbox: Sandbox) -> None:
    kind, message, _ = sandbox.python(IMPORT.format(name="TokenLimits"))

    assert kind == "ImportError"
    assert 'pip install "ember[ratelimit]"' in message


def test_installed_but_broken_plugin_reraises_its_real_error(sandbox: Sandbox) -> None:
    """ember-ai is installed, but a dependency of it is missing: say that."""
    sandbox.add_plugin("ai", "import tiktoken_that_is_not_installed\n", version="0.1.0")

    kind, message, name = sandbox.python(IMPORT.format(name="ConversationContext"))

    assert kind == "ModuleNotFoundError"
    assert name == "tiktoken_that_is_not_installed"
    assert "ember[ai]" not in message


def test_disabled_first_party_plugin_says_so(sandbox: Sandbox) -> None:
    sandbox.add_plugin("ratelimit", "", version="0.1.0")

    kind, message, _ = sandbox.python(
        IMPORT.format(name="TokenLimits"), env={"EMBER_DISABLE_PLUGINS": "ratelimit"}
    )

    assert kind == "ImportError"
    assert "EMBER_DISABLE_PLUGINS" in message


def test_unknown_name_is_an_attribute_error(sandbox: Sandbox) -> None:
    kind, message, _ = sandbox.python(IMPORT.format(name="NoSuchThing"))

    assert kind == "ImportError"  # what `from ember import X` turns AttributeError into
    assert "NoSuchThing" in message
