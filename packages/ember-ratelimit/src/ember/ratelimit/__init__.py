"""ember-ratelimit: token budgets for Ember, reserved at admission and settled on real usage.

``from ember import TokenLimits, GlobalTokenBucket, RateLimitMiddleware`` works
once this distribution is installed; typed code imports from here.
"""

from .backends import Backend, BackendUnavailable, MemoryBackend
from .buckets import GlobalTokenBucket, TokenBucket
from .limits import TokenLimits
from .middleware import RateLimitMiddleware

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "BackendUnavailable",
    "GlobalTokenBucket",
    "MemoryBackend",
    "RateLimitMiddleware",
    "RedisBackend",
    "TokenBucket",
    "TokenLimits",
]


def __getattr__(name: str) -> object:
    # RedisBackend needs the [redis] extra: import it only when asked for.
    if name == "RedisBackend":
        from .backends.redis import RedisBackend

        return RedisBackend
    raise AttributeError(f"module 'ember.ratelimit' has no attribute {name!r}")
