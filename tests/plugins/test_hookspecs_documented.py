"""docs/hooks.md and the tests keep up with ember/hookspecs.py.

Every hookspec must have a heading in docs/hooks.md whose text is its exact
signature, a section saying when it is called and what it returns, with an
example; and a test named ``test_hook_<hook name>`` somewhere under tests/.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
from ember import hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS_MD = ROOT / "docs" / "hooks.md"
HEADING = re.compile(r"^## `(?P<signature>[^`]+)`$", re.MULTILINE)


def spec_signatures() -> dict[str, str]:
    """``name -> "name(args) -> returns"`` for every hookspec, read from the source."""
    tree = ast.parse(inspect.getsource(hookspecs))
    signatures = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("ember_"):
            returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
            signatures[node.name] = f"{node.name}({ast.unparse(node.args)}){returns}"
    return signatures


def doc_sections() -> dict[str, tuple[str, str]]:
    """``name -> (heading signature, section text)`` from docs/hooks.md."""
    text = HOOKS_MD.read_text()
    headings = list(HEADING.finditer(text))
    sections = {}
    for heading, following in zip(headings, [*headings[1:], None], strict=True):
        end = following.start() if following else len(text)
        signature = heading["signature"]
        sections[signature.split("(")[0]] = (signature, text[heading.end() : end])
    return sections


SPECS = spec_signatures()


def test_the_hookspecs_are_found() -> None:
    # Every function marked as a spec in the module, and nothing else.
    marked = {n for n, f in vars(hookspecs).items() if hasattr(f, "ember_spec")}
    assert set(SPECS) == marked
    assert len(SPECS) >= 10


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hook_has_a_heading_with_its_exact_signature(name: str) -> None:
    sections = doc_sections()
    assert name in sections, f"docs/hooks.md has no '## `{SPECS[name]}`' heading"
    assert sections[name][0] == SPECS[name]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hook_section_says_when_what_and_shows_an_example(name: str) -> None:
    section = doc_sections()[name][1]
    for part in ("**Called:**", "**Receives:**", "**Returns:**", "```python"):
        assert part in section, f"the section of {name} in docs/hooks.md lacks {part}"


def test_docs_describe_no_hook_that_does_not_exist() -> None:
    assert set(doc_sections()) <= set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hookspec_docstring_states_its_contract(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    for part in ("Called:", "Receives:", "Returns:", ".. versionadded::"):
        assert part in doc, f"{name}'s docstring lacks {part!r}"


def test_every_hook_has_a_test() -> None:
    defined = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        defined |= set(re.findall(r"^(?:async )?def (test_hook_\w+)\(", path.read_text(), re.M))
    missing = sorted(f"test_hook_{name}" for name in SPECS if f"test_hook_{name}" not in defined)
    assert not missing, f"no test under tests/ for: {', '.join(missing)}"
