"""The public API is pinned, and ember-core stands alone.

These tests hold whether or not plugins are installed: where it matters, a
child interpreter runs on a path that holds ember-core alone (see
``core_helpers.build_core_only_path``), as after ``pip install ember-core``.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import ember
import pytest
from core_helpers import run_python

CORE_NAMES = {
    "URL",
    "AppOption",
    "ClientDisconnect",
    "ConfigError",
    "Ember",
    "EmberError",
    "Export",
    "HTMLResponse",
    "HTTPError",
    "Headers",
    "Injectable",
    "JSONResponse",
    "PlainTextResponse",
    "PluginConflictError",
    "PluginError",
    "PluginLoadError",
    "QueryParams",
    "Request",
    "Response",
    "Route",
    "RouteDecorator",
    "RouteOption",
    "SSEResponse",
    "ServerSentEvent",
    "StartupError",
    "StreamingResponse",
    "TokenStreamResponse",
    "hookimpl",
}

# The seed's plugin-provided names, and the extra that installs each.
PLUGIN_NAMES = {
    "ConversationContext": "ember[ai]",
    "Message": "ember[ai]",
    "MessageRole": "ember[ai]",
    "ModelRouter": "ember[ai]",
    "ModelSpec": "ember[ai]",
    "RoutingStrategy": "ember[ai]",
    "ToolRegistry": "ember[ai]",
    "sse_stream": "ember[ai]",
    "GlobalTokenBucket": "ember[ratelimit]",
    "RateLimitMiddleware": "ember[ratelimit]",
    "TokenLimits": "ember[ratelimit]",
}

_DISTRIBUTION = {"ember[ai]": "ember-ai", "ember[ratelimit]": "ember-ratelimit"}


def test_all_is_exactly_the_public_names() -> None:
    assert set(ember.__all__) == CORE_NAMES | set(PLUGIN_NAMES)
    assert len(ember.__all__) == len(set(ember.__all__))


@pytest.mark.parametrize("name", sorted(CORE_NAMES))
def test_every_core_name_imports_from_ember(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from ember import {name}", namespace)
    assert namespace[name] is getattr(ember, name)


def test_the_version_matches_the_distribution() -> None:
    assert ember.__version__ == metadata.version("ember-core")


def test_an_unknown_name_is_an_import_error() -> None:
    with pytest.raises(ImportError, match="NoSuchThing"):
        exec("from ember import NoSuchThing", {})


def _import_plugin_name(name: str, path: Path | None) -> dict[str, str]:
    code = (
        "import json\n"
        "try:\n"
        f"    from ember import {name}\n"
        "    print(json.dumps({'ok': repr(" + name + ")}))\n"
        "except ImportError as exc:\n"
        "    print(json.dumps({'error': str(exc)}))\n"
    )
    done = run_python(code, path=path)
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("name", sorted(PLUGIN_NAMES))
def test_a_plugin_name_without_its_plugin_names_the_extra_to_install(
    name: str, core_only_path: Path
) -> None:
    result = _import_plugin_name(name, core_only_path)
    extra = PLUGIN_NAMES[name]
    assert result == {
        "error": (
            f"cannot import name {name!r} from 'ember': it is provided by "
            f"{_DISTRIBUTION[extra]}, which is not installed. Install it with: "
            f'pip install "{extra}"'
        )
    }


@pytest.mark.parametrize("name", ["ConversationContext", "TokenLimits"])
def test_a_plugin_name_in_this_environment_imports_or_names_its_extra(name: str) -> None:
    # In the full dev venv the plugin is installed and the name resolves; in
    # the ember-core-only venv the import names the extra. Both are correct.
    extra = PLUGIN_NAMES[name]
    installed = _installed(_DISTRIBUTION[extra])
    result = _import_plugin_name(name, None)
    if installed:
        assert "ok" in result, result
    else:
        assert f'pip install "{extra}"' in result["error"]


def _installed(distribution: str) -> bool:
    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def test_a_switched_off_plugin_name_says_how_it_was_switched_off() -> None:
    done = run_python("from ember import ConversationContext", env={"EMBER_LOAD_PLUGINS": ""})
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    if _installed("ember-ai"):
        assert "switched off by EMBER_DISABLE_PLUGINS or EMBER_LOAD_PLUGINS" in last
    else:
        assert 'pip install "ember[ai]"' in last


_HEAVY = ("httpx", "tiktoken", "redis", "ember.ai", "ember.ratelimit", "ember.hello")

_IMPORTED = (
    "import sys, json\n"
    "{setup}\n"
    "heavy = {heavy!r}\n"
    "print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))))\n"
)


def test_import_ember_pulls_in_no_plugin_or_client_library() -> None:
    done = run_python(_IMPORTED.format(setup="import ember", heavy=_HEAVY))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_a_core_only_app_serves_without_any_plugin_library(core_only_path: Path) -> None:
    setup = (
        "import asyncio\n"
        "from ember import Ember\n"
        "app = Ember()\n"
        "app.get('/')(lambda: {'ok': True})\n"
        "async def call():\n"
        "    sent = []\n"
        "    async def receive(): return {'type': 'http.request', 'body': b''}\n"
        "    async def send(m): sent.append(m)\n"
        "    await app({'type': 'http', 'method': 'GET', 'path': '/', 'headers': []},"
        " receive, send)\n"
        "    assert sent[1]['body'] == b'{\"ok\":true}', sent\n"
        "asyncio.run(call())"
    )
    done = run_python(_IMPORTED.format(setup=setup, heavy=_HEAVY), path=core_only_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
