"""``TokenLimits``: the per-route budget a route declares with ``token_limits=``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TokenLimits:
    """Token limits of one route, enforced per client key.

    - ``tokens_per_minute``: each client key (API key, else client IP) gets a
      bucket of this capacity that refills fully in a minute.
    - ``max_prompt_tokens``: a request whose estimated prompt is longer is
      refused with 400 before the handler (and so any model) runs.
    - ``max_completion_tokens``: the request's own ``max_tokens`` is capped at
      this; the cap is in ``request.state.max_completion_tokens``, which
      ember-ai honours when it calls a provider.
    """

    tokens_per_minute: int | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("tokens_per_minute", "max_prompt_tokens", "max_completion_tokens"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"TokenLimits({name}=...) must be a positive int, got {value!r}")


__all__ = ["TokenLimits"]
