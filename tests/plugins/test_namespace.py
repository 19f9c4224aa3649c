"""The shared ``ember`` package: plugins ship only ``ember/<name>/``.

ember-core's ``ember/__init__.py`` extends its ``__path__`` with every
``ember`` directory on ``sys.path``, so a plugin installed elsewhere (another
site-packages, an editable ``src`` tree, an unpacked wheel) is still found.
"""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import ember
import ember.hello
import pytest
from fake_dists import Sandbox

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "plugins" / "ember-hello"


@pytest.fixture(scope="module")
def hello_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        ["uv", "build", "--wheel", "--out-dir", str(out), str(HELLO)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    [wheel] = out.glob("ember_hello-*.whl")
    return wheel


def test_installed_plugin_lives_outside_the_core_package() -> None:
    """In this environment ember-core is editable and ember-hello a plain install."""
    core_dir = Path(ember.__file__).parent
    hello_dir = Path(ember.hello.__file__).parent.parent

    assert hello_dir != core_dir
    assert not (hello_dir / "__init__.py").exists()
    assert {str(core_dir), str(hello_dir)} <= set(ember.__path__)


def test_plugin_wheel_ships_no_ember_init(hello_wheel: Path) -> None:
    names = zipfile.ZipFile(hello_wheel).namelist()

    assert "ember/__init__.py" not in names
    assert "ember/hello/__init__.py" in names
    assert "ember/hello/py.typed" in names
    assert all(n.startswith(("ember/hello/", "ember_hello-")) for n in names)


def test_plugin_wheel_declares_its_entry_point(hello_wheel: Path) -> None:
    with zipfile.ZipFile(hello_wheel) as wheel:
        [entry_points] = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
        text = wheel.read(entry_points).decode()

    assert "[ember]" in text
    assert "hello = ember.hello.plugin" in text


def test_unpacked_wheel_in_its_own_directory_joins_the_core(
    sandbox: Sandbox, hello_wheel: Path
) -> None:
    """A wheel unpacked is what an installer leaves: here, in a third directory."""
    zipfile.ZipFile(hello_wheel).extractall(sandbox.root)

    found = sandbox.python(
        """
        import json, ember, ember.hello
        from ember import Ember, Greeter
        app = Ember(greeting="Hi")
        print(json.dumps([ember.__file__, ember.hello.__file__, Greeter("Hi").greet("x"),
                          [(p.name, p.distribution) for p in app.plugins]]))
        """
    )

    core_file, hello_file, greeting, plugins = found
    assert core_file.startswith(str(sandbox.site))
    assert hello_file == str(sandbox.root / "ember" / "hello" / "__init__.py")
    assert greeting == "Hi, x!"
    assert ["hello", "ember-hello"] in plugins


def test_editable_style_src_tree_joins_the_core(sandbox: Sandbox) -> None:
    """An editable install puts the plugin's src/ on sys.path; metadata lives elsewhere."""
    sandbox.add_dist("ember-hello", "0.1.0", {"hello": "ember.hello.plugin"})
    sandbox.extra_paths.append(HELLO / "src")

    hello_file = sandbox.python(
        "import json; from ember import Ember; import ember.hello; "
        "assert Ember().hello_route; print(json.dumps(ember.hello.__file__))"
    )

    assert hello_file == str(HELLO / "src" / "ember" / "hello" / "__init__.py")


def test_a_directory_added_after_import_is_not_seen(sandbox: Sandbox, tmp_path: Path) -> None:
    """extend_path's known limit: it reads sys.path once, at ``import ember``."""
    late = tmp_path / "late"
    (late / "ember" / "late").mkdir(parents=True)
    (late / "ember" / "late" / "__init__.py").write_text("")

    seen = sandbox.python(
        f"""
        import json, sys
        import ember
        sys.path.append({str(late)!r})
        try:
            import ember.late
        except ModuleNotFoundError:
            print(json.dumps(False))
        else:
            print(json.dumps(True))
        """
    )

    assert seen is False
