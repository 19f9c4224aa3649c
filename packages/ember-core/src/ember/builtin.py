"""The core's own plugin: what every app has, supplied through the same hooks
third-party plugins use (which proves the hooks suffice)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .hookspecs import hookimpl
from .injection import request_injectable
from .records import Injectable

if TYPE_CHECKING:
    from .app import Ember


@hookimpl
def ember_injectables(app: Ember) -> Iterable[Injectable]:
    return [request_injectable()]
