"""The Greeter: what handlers receive when they ask for ``greeter: Greeter``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Greeter:
    """Greets people with the app's ``Ember(greeting=...)``."""

    greeting: str = "Hello"

    def greet(self, name: str) -> str:
        return f"{self.greeting}, {name}!"
