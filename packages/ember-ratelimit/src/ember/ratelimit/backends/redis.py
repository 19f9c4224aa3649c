"""Budgets on Redis, shared by every process and machine that points at it.

Each admission is one ``EVALSHA`` of one Lua script covering every budget and
concurrency slot involved: it refills on the server's ``TIME`` (so clocks of
app machines never matter), returns the reservations of expired leases, checks
everything, and takes everything or nothing. Settlement is a second script,
one more round trip. Keys expire once their bucket would be full again.

Every call is bounded by ``timeout``; a Redis that is down, refuses or does
not answer raises ``BackendUnavailable`` and the middleware fails open or
closed as configured.

Keys: ``<prefix><budget key>`` (a hash), ``…:leases`` (a sorted set of
``<lease>:<tokens>`` by expiry), and ``<prefix><slot key>`` (a sorted set of
leases). For Redis Cluster give a hash-tagged prefix, e.g. ``"{ember}:rl:"``,
so that one script's keys share a slot.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Sequence
from typing import Any

from ..buckets import Budget
from .base import CONCURRENCY, TOKENS, BackendUnavailable, Slot, Verdict
from .resp import RedisAddress, RespConnection, RespError

# Shared by both scripts: refill one budget to the server's now and return the
# reservations of leases that expired (their requests died without settling).
_REFILL = """
local function refill(state, leases, cap, rate, now)
  local v = redis.call('HMGET', state, 'level', 'stamp')
  local level = tonumber(v[1]) or cap
  local stamp = tonumber(v[2]) or now
  if now > stamp then level = math.min(cap, level + (now - stamp) * rate) end
  local dead = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
  if #dead > 0 then
    for _, member in ipairs(dead) do
      level = math.min(cap, level + tonumber(string.match(member, ':(%d+)$')))
    end
    redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
  end
  return level
end

local function store(state, level, cap, rate, now, ttl)
  redis.call('HSET', state, 'level', string.format('%.17g', level), 'stamp',
             string.format('%.17g', now))
  if rate > 0 then
    -- Once full again the bucket is the same as no bucket: let it expire.
    local full = math.max(0, cap - level) / rate
    redis.call('PEXPIRE', state, math.ceil((full + ttl) * 1000) + 1000)
  else
    redis.call('PERSIST', state)
  end
end

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: state_1, leases_1, ..., state_n, leases_n, slot_1, ..., slot_m
# ARGV: n, m, cost, lease, lease_seconds, cap_1, rate_1, ..., cap_n, rate_n, limit_1..limit_m
# Returns {admitted, reason, index (1-based, 0 none), remaining, reset, retry_after}.
ADMIT = (
    _REFILL
    + """
local nb, ns = tonumber(ARGV[1]), tonumber(ARGV[2])
local cost, lease, ttl = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local levels, caps, rates = {}, {}, {}
for i = 1, nb do
  caps[i], rates[i] = tonumber(ARGV[4 + 2 * i]), tonumber(ARGV[5 + 2 * i])
  levels[i] = refill(KEYS[2 * i - 1], KEYS[2 * i], caps[i], rates[i], now)
  store(KEYS[2 * i - 1], levels[i], caps[i], rates[i], now, ttl)
end

local function until_full(i)
  if rates[i] <= 0 then return -1 end
  return math.max(0, caps[i] - levels[i]) / rates[i]
end

local function lowest()
  local best, ratio = 0, nil
  for i = 1, nb do
    local r = levels[i] / caps[i]
    if ratio == nil or r < ratio then best, ratio = i, r end
  end
  return best
end

local function answer(admitted, reason, index, retry)
  if index == 0 then return {admitted, reason, 0, '0', '0', retry} end
  return {admitted, reason, index, string.format('%.17g', levels[index]),
          string.format('%.17g', until_full(index)), retry}
end

for j = 1, ns do
  local slot = KEYS[2 * nb + j]
  redis.call('ZREMRANGEBYSCORE', slot, '-inf', now)
  if redis.call('ZCARD', slot) >= tonumber(ARGV[5 + 2 * nb + j]) then
    return answer(0, 2, lowest(), '0')
  end
end

local refused, wait, short = 0, 0, nil
for i = 1, nb do
  if levels[i] < cost then
    local need = -1
    if rates[i] > 0 then need = (cost - levels[i]) / rates[i] end
    if need < 0 or (wait >= 0 and need > wait) then wait = need end
    if short == nil or levels[i] - cost < short then refused, short = i, levels[i] - cost end
  end
end
if refused > 0 then return answer(0, 1, refused, string.format('%.17g', wait)) end

for i = 1, nb do
  levels[i] = levels[i] - cost
  store(KEYS[2 * i - 1], levels[i], caps[i], rates[i], now, ttl)
  if cost > 0 then
    redis.call('ZADD', KEYS[2 * i], now + ttl, lease .. ':' .. cost)
    redis.call('PEXPIRE', KEYS[2 * i], math.ceil(ttl * 1000) + 1000)
  end
end
for j = 1, ns do
  local slot = KEYS[2 * nb + j]
  redis.call('ZADD', slot, now + ttl, lease)
  redis.call('PEXPIRE', slot, math.ceil(ttl * 1000) + 1000)
end
return answer(1, 0, lowest(), '0')
"""
)

# KEYS as for ADMIT. ARGV: n, m, cost, lease, lease_seconds, used, cap_1, rate_1, ...
SETTLE = (
    _REFILL
    + """
local nb, ns = tonumber(ARGV[1]), tonumber(ARGV[2])
local cost, lease, ttl, used = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
for i = 1, nb do
  local state, leases = KEYS[2 * i - 1], KEYS[2 * i]
  local cap, rate = tonumber(ARGV[5 + 2 * i]), tonumber(ARGV[6 + 2 * i])
  local level = refill(state, leases, cap, rate, now)
  -- A lease still held is refunded what was not used; one that already timed
  -- out was refunded in full, so the whole real usage is charged.
  if redis.call('ZREM', leases, lease .. ':' .. cost) == 1 then
    level = level + cost - used
  else
    level = level - used
  end
  store(state, math.min(cap, level), cap, rate, now, ttl)
end
for j = 1, ns do
  redis.call('ZREM', KEYS[2 * nb + j], lease)
end
return 1
"""
)

_REASONS = {0: "", 1: TOKENS, 2: CONCURRENCY}


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


class RedisBackend:
    """Budgets on the Redis at ``url``, shared by every process using the same ``prefix``.

    ``timeout`` bounds every call, connecting included (seconds);
    ``lease_seconds`` is how long a reservation outlives a request that never
    settles (a crashed worker) before it is returned. Each process keeps one
    pipelined connection (see ``resp``).
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "ember:ratelimit:",
        timeout: float = 0.5,
        lease_seconds: float = 300.0,
    ) -> None:
        if timeout <= 0 or lease_seconds <= 0:
            raise ValueError("timeout and lease_seconds must be positive")
        self.prefix = prefix
        self.timeout = timeout
        self.lease_seconds = lease_seconds
        address = RedisAddress(url)
        # Where Redis is, for log lines: never the URL, which may hold a password.
        self.where = repr(address)
        self.connection = RespConnection(address)
        self._admit_sha = _sha(ADMIT)
        self._settle_sha = _sha(SETTLE)

    def __repr__(self) -> str:
        return f"RedisBackend({self.where}, prefix={self.prefix!r}, timeout={self.timeout})"

    def _keys(self, budgets: Sequence[Budget], slots: Sequence[Slot]) -> list[str]:
        keys: list[str] = []
        for budget in budgets:
            state = self.prefix + budget.key
            keys += [state, state + ":leases"]
        keys += [self.prefix + slot.key for slot in slots]
        return keys

    async def _run(self, script: str, sha: str, keys: list[str], args: list[Any]) -> Any:
        call = self.connection.call
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    return await call("EVALSHA", sha, len(keys), *keys, *args)
                except RespError as exc:
                    if not str(exc).startswith("NOSCRIPT"):
                        raise
                    # A restarted or failed-over Redis lost the script: send it once.
                    return await call("EVAL", script, len(keys), *keys, *args)
        except TimeoutError as exc:
            # A slow Redis would answer this call later, out of turn: start afresh.
            self.connection.drop(exc)
            raise BackendUnavailable(f"Redis at {self.where} timed out") from exc
        except (ConnectionError, OSError) as exc:
            raise BackendUnavailable(f"Redis at {self.where} unreachable ({exc})") from exc
        except RespError as exc:
            raise BackendUnavailable(f"Redis at {self.where} refused the script: {exc}") from exc

    async def reserve(
        self, budgets: Sequence[Budget], cost: int, slots: Sequence[Slot], lease: str
    ) -> Verdict:
        args: list[Any] = [len(budgets), len(slots), cost, lease, self.lease_seconds]
        for budget in budgets:
            args += [repr(float(budget.capacity)), repr(float(budget.refill_rate))]
        args += [slot.limit for slot in slots]
        reply = await self._run(ADMIT, self._admit_sha, self._keys(budgets, slots), args)
        admitted, reason, index, remaining, reset, retry = reply
        reset_seconds = float(reset)
        retry_seconds = float(retry)
        return Verdict(
            admitted=bool(int(admitted)),
            reason=_REASONS[int(reason)],
            budget=int(index) - 1,
            remaining=float(remaining),
            reset=math.inf if reset_seconds < 0 else reset_seconds,
            retry_after=math.inf if retry_seconds < 0 else retry_seconds,
        )

    async def settle(
        self, budgets: Sequence[Budget], cost: int, slots: Sequence[Slot], lease: str, used: int
    ) -> None:
        args: list[Any] = [len(budgets), len(slots), cost, lease, self.lease_seconds, used]
        for budget in budgets:
            args += [repr(float(budget.capacity)), repr(float(budget.refill_rate))]
        await self._run(SETTLE, self._settle_sha, self._keys(budgets, slots), args)

    async def level(self, budget: Budget) -> float:
        """The tokens ``budget`` holds as last stored (no refill; for tests)."""
        value = await self.connection.call("HGET", self.prefix + budget.key, "level")
        return budget.capacity if value is None else float(value)

    async def aclose(self) -> None:
        await self.connection.aclose()


__all__ = ["ADMIT", "SETTLE", "RedisBackend"]
