"""Fixtures for ember-core's tests; the helpers themselves are in core_helpers.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from core_helpers import build_core_only_path


@pytest.fixture(scope="session")
def core_only_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory that, as the whole sys.path, holds ember-core and no plugin."""
    return build_core_only_path(tmp_path_factory.mktemp("core-only"))
