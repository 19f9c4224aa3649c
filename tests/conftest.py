"""Fixtures shared by every test directory."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import free_port, redis_server


@pytest.fixture
def port() -> int:
    """A free TCP port on 127.0.0.1."""
    return free_port()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server process for the whole test session."""
    with redis_server() as url:
        yield url
