"""The contract every backend keeps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from ..buckets import Budget

# Reasons a reservation is refused.
TOKENS = "tokens"
CONCURRENCY = "concurrency"


class BackendUnavailable(Exception):
    """The backend could not answer in time (Redis down, slow or refusing)."""


@dataclass(frozen=True, slots=True)
class Slot:
    """A concurrency limit: at most ``limit`` requests hold ``key`` at once."""

    key: str
    limit: int


class Verdict(NamedTuple):
    """A backend's answer to a reservation.

    ``budget`` is the index of the budget to report in the headers: the one that refused,
    else the one closest to empty (relative to its capacity) (-1 when there are no budgets).
    ``remaining`` is its level after the reservation, ``reset`` the seconds
    until it is full, ``retry_after`` the seconds until every budget could
    hold the request.
    """

    admitted: bool
    reason: str = ""
    budget: int = -1
    remaining: float = 0.0
    reset: float = 0.0
    retry_after: float = 0.0


class Backend(Protocol):
    """Stores budget levels, leases and concurrency slots."""

    lease_seconds: float

    async def reserve(
        self, budgets: Sequence[Budget], cost: int, slots: Sequence[Slot], lease: str
    ) -> Verdict:
        """Take ``cost`` tokens from every budget and a place in every slot,
        or nothing at all; held until ``settle`` or the lease times out."""
        ...

    async def settle(
        self, budgets: Sequence[Budget], cost: int, slots: Sequence[Slot], lease: str, used: int
    ) -> None:
        """End a reservation: refund ``cost - used`` (or charge the excess) and
        free the slots. If the lease already timed out, charge ``used``."""
        ...

    async def aclose(self) -> None: ...


__all__ = ["CONCURRENCY", "TOKENS", "Backend", "BackendUnavailable", "Slot", "Verdict"]
