"""docs/plugins.md shows ember-hello's real code.

A code block after ``<!-- file: PATH -->`` must be that file, word for word;
one after ``<!-- excerpt: PATH -->`` must appear in it verbatim.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
SNIPPET = re.compile(
    r"<!-- (?P<kind>file|excerpt): (?P<path>\S+) -->\n```\w*\n(?P<code>.*?)\n```", re.DOTALL
)
SNIPPETS = [(m["kind"], m["path"], m["code"]) for m in SNIPPET.finditer(GUIDE.read_text())]


def test_guide_includes_every_file_of_the_plugin_it_explains() -> None:
    shown = {path for kind, path, _ in SNIPPETS if kind == "file"}
    hello = ROOT / "examples" / "plugins" / "ember-hello"
    wanted = {"pyproject.toml", "example_app.py", "tests/conftest.py"} | {
        str(p.relative_to(hello)) for p in (hello / "src").rglob("*.py")
    }
    assert shown == {f"examples/plugins/ember-hello/{path}" for path in wanted}


@pytest.mark.parametrize(
    ("kind", "path", "code"), SNIPPETS, ids=[f"{k}:{p}" for k, p, _ in SNIPPETS]
)
def test_snippet_matches_the_file(kind: str, path: str, code: str) -> None:
    text = (ROOT / path).read_text()
    if kind == "file":
        assert code == text.rstrip("\n")
    else:
        assert code in text
