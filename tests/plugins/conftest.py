"""Fixtures for the loader tests; the sandbox itself is in fake_dists.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_dists import Sandbox, core_only_site


@pytest.fixture(scope="session")
def core_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("core-site") / "site-packages"
    core_only_site(site)
    return site


@pytest.fixture
def sandbox(tmp_path: Path, core_site: Path) -> Sandbox:
    root = tmp_path / "fake-site"
    root.mkdir()
    return Sandbox(root, core_site)
