"""ember-hello: the example third-party Ember plugin.

Import from here in typed code (``from ember.hello import Greeter``);
``from ember import Greeter`` works too, through the plugin's exports.
"""

from .greeter import Greeter
from .middleware import HelloHeaderMiddleware

__all__ = ["Greeter", "HelloHeaderMiddleware"]
