"""ember-hello's test set-up: the app the kit's ``client`` talks to.

The kit itself (``pytest_plugins = ["ember.testing"]``) is enabled in the test
module: pytest accepts ``pytest_plugins`` only in the *root* conftest.py, and
this one is not the root when the monorepo runs every test at once. In your
own plugin's repository, put it in the root conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ember import Ember
from ember.hello import plugin


@pytest.fixture
def app(make_app: Callable[..., Ember]) -> Ember:
    """An app with ember-hello alone (other installed plugins are left out)."""
    return make_app(plugin, greeting="Howdy")
