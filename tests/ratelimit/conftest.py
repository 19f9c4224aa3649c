"""Fixtures for ember-ratelimit's tests."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def prefix() -> str:
    """A Redis key prefix no other test uses (the Redis server is shared)."""
    return f"test:{uuid.uuid4().hex[:12]}:"
