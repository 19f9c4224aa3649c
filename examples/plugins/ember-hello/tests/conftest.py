"""ember-hello's test set-up: its app, and an httpx client talking to it.

The kit itself (``pytest_plugins = ["ember.testing"]``) is enabled in the test
module: pytest accepts ``pytest_plugins`` only in the *root* conftest.py, and
this one is not the root when the monorepo runs every test at once. In your
own plugin's repository, put it in the root conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from ember import Ember
from ember.hello import plugin


@pytest.fixture
def app(make_app: Callable[..., Ember]) -> Ember:
    """An app with ember-hello alone (other installed plugins are left out)."""
    return make_app(plugin, greeting="Howdy")


@pytest.fixture
async def client(started_app: Ember) -> AsyncIterator[httpx.AsyncClient]:
    """httpx talking to ``app`` in-process, after its start-up hooks (the kit's
    ``started_app``; ember-core itself depends on no HTTP client)."""
    transport = httpx.ASGITransport(app=started_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
