"""Budgets on Redis, shared by every process and machine that points at it.

Each admission is one ``EVALSHA`` of one Lua script covering every budget and
concurrency slot involved: it refills on the server's ``TIME`` (so clocks of
app machines never matter), returns the reservations of expired leases, checks
everything, and takes everything or nothing. Settlement is a second script,
one more round trip. Keys expire once their bucket would be full again.

A request that reserves nothing and holds no slot (a ``GET``, say) takes
nothing from any budget, so it needs no atomic admission: it is answered from
what the last reply about the same budgets said, refilled to now, while that
is at most ``view_seconds`` old (0.1 s by default) and was an admission. Its
``x-ratelimit-*`` headers come from there too, and an overdrawn budget is seen
within ``view_seconds`` (at once, when this process overdrew it).

Every call is bounded by ``timeout``; a Redis that is down, refuses or does
not answer raises ``BackendUnavailable`` and the middleware fails open or
closed as configured.

Keys: ``<prefix><budget key>`` (a hash), ``…:leases`` (a sorted set of
``<lease>:<tokens>`` by expiry), and ``<prefix><slot key>`` (a sorted set of
leases). For Redis Cluster give a hash-tagged prefix, e.g. ``"{ember}:rl:"``,
so that one script's keys share a slot.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from typing import Any

from ..buckets import Budget
from .base import CONCURRENCY, TOKENS, BackendUnavailable, Slot, Verdict
from .resp import RedisAddress, RespConnection, RespError, bulk

# Shared by both scripts: refill one budget to the server's now and return the
# reservations of leases that expired (their requests died without settling).
_REFILL = """
-- Also says whether expired leases were returned: then the level must be
-- stored even if nothing else changes (refill alone can be recomputed later).
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
    return level, true
  end
  return level, false
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
local levels, caps, rates, returned = {}, {}, {}, {}
for i = 1, nb do
  caps[i], rates[i] = tonumber(ARGV[4 + 2 * i]), tonumber(ARGV[5 + 2 * i])
  levels[i], returned[i] = refill(KEYS[2 * i - 1], KEYS[2 * i], caps[i], rates[i], now)
end

-- Each budget is written once: after taking, or, when refused, only if
-- expired leases were returned to it.
local function keep_returned()
  for i = 1, nb do
    if returned[i] then store(KEYS[2 * i - 1], levels[i], caps[i], rates[i], now, ttl) end
  end
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
    keep_returned()
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
if refused > 0 then
  keep_returned()
  return answer(0, 1, refused, string.format('%.17g', wait))
end

for i = 1, nb do
  levels[i] = levels[i] - cost
  -- Taking nothing changes nothing: the stored level refills to the same.
  if cost > 0 or returned[i] then
    store(KEYS[2 * i - 1], levels[i], caps[i], rates[i], now, ttl)
  end
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
_MAX_VIEWS = 10_000


def _view_key(budgets: Sequence[Budget]) -> str:
    if len(budgets) == 1:
        return budgets[0].key
    return "\n".join(budget.key for budget in budgets)


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


class RedisBackend:
    """Budgets on the Redis at ``url``, shared by every process using the same ``prefix``.

    ``timeout`` bounds every call, connecting included (seconds);
    ``lease_seconds`` is how long a reservation outlives a request that never
    settles (a crashed worker) before it is returned; ``view_seconds`` is how
    long a request that reserves nothing may be answered from the last reply
    (0: always ask Redis). Each process keeps one pipelined connection (see
    ``resp``).
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "ember:ratelimit:",
        timeout: float = 0.5,
        lease_seconds: float = 300.0,
        view_seconds: float = 0.1,
    ) -> None:
        if timeout <= 0 or lease_seconds <= 0:
            raise ValueError("timeout and lease_seconds must be positive")
        if view_seconds < 0:
            raise ValueError("view_seconds must not be negative")
        self.prefix = prefix
        self.timeout = timeout
        self.lease_seconds = lease_seconds
        self.view_seconds = view_seconds
        # budgets' keys -> (when, the admission's verdict, the budget it reports)
        self._views: dict[str, tuple[float, Verdict, Budget]] = {}
        address = RedisAddress(url)
        # Where Redis is, for log lines: never the URL, which may hold a password.
        self.where = repr(address)
        self.connection = RespConnection(address, timeout)
        # Commands are assembled from pieces encoded once: the scripts, and
        # each budget's keys and numbers (see _pieces).
        self._admit = (bulk(_sha(ADMIT)), bulk(ADMIT))
        self._settle = (bulk(_sha(SETTLE)), bulk(SETTLE))
        self._lease_seconds = bulk(lease_seconds)
        self._pieces: dict[Budget, tuple[bytes, bytes]] = {}

    def __repr__(self) -> str:
        return f"RedisBackend({self.where}, prefix={self.prefix!r}, timeout={self.timeout})"

    def _pieces_of(self, budget: Budget) -> tuple[bytes, bytes]:
        """A budget's keys and its capacity and refill rate, encoded."""
        pieces = self._pieces.get(budget)
        if pieces is None:
            if len(self._pieces) >= _MAX_VIEWS:
                self._pieces.clear()  # per-client budgets: keep memory bounded
            state = self.prefix + budget.key
            pieces = self._pieces[budget] = (
                bulk(state) + bulk(state + ":leases"),
                bulk(repr(float(budget.capacity))) + bulk(repr(float(budget.refill_rate))),
            )
        return pieces

    def _command(
        self,
        budgets: Sequence[Budget],
        slots: Sequence[Slot],
        cost: int,
        lease: str,
        last: bytes,
        limits: bool,
    ) -> tuple[int, bytes]:
        """The script's arguments after its name, encoded, and how many there are.

        KEYS: state_1, leases_1, ..., slot_1, ...; ARGV: n, m, cost, lease,
        lease_seconds, ``last`` (settlement only), cap_1, rate_1, ..., and the
        slots' limits (admission only)."""
        keys: list[bytes] = []
        numbers: list[bytes] = []
        for budget in budgets:
            budget_keys, budget_numbers = self._pieces_of(budget)
            keys.append(budget_keys)
            numbers.append(budget_numbers)
        for slot in slots:
            keys.append(bulk(self.prefix + slot.key))
            if limits:
                numbers.append(bulk(slot.limit))
        nkeys = 2 * len(budgets) + len(slots)
        head = bulk(nkeys) + b"".join(keys) + bulk(len(budgets)) + bulk(len(slots))
        head += bulk(cost) + bulk(lease) + self._lease_seconds + last
        argv = 5 + (1 if last else 0) + 2 * len(budgets) + (len(slots) if limits else 0)
        return 1 + nkeys + argv, head + b"".join(numbers)

    async def _run(self, script: tuple[bytes, bytes], count: int, arguments: bytes) -> Any:
        sha, text = script
        call = self.connection.call_encoded
        try:
            try:
                return await call(b"*%d\r\n$7\r\nEVALSHA\r\n%s%s" % (count + 2, sha, arguments))
            except RespError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    raise
                # A restarted or failed-over Redis lost the script: send it once.
                return await call(b"*%d\r\n$4\r\nEVAL\r\n%s%s" % (count + 2, text, arguments))
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
        count, arguments = self._command(budgets, slots, cost, lease, b"", limits=True)
        reply = await self._run(self._admit, count, arguments)
        admitted, reason, index, remaining, reset, retry = reply
        reset_seconds = float(reset)
        retry_seconds = float(retry)
        verdict = Verdict(
            admitted=bool(int(admitted)),
            reason=_REASONS[int(reason)],
            budget=int(index) - 1,
            remaining=float(remaining),
            reset=math.inf if reset_seconds < 0 else reset_seconds,
            retry_after=math.inf if retry_seconds < 0 else retry_seconds,
        )
        if self.view_seconds:
            self._remember(budgets, verdict)
        return verdict

    def peek(self, budgets: Sequence[Budget]) -> Verdict | None:
        """The verdict for a request that reserves nothing and holds no slot,
        from a recent admission's reply (see the module docstring); None: ask Redis."""
        view = self._views.get(_view_key(budgets))
        if view is None:
            return None
        seen, verdict, budget = view
        elapsed = time.monotonic() - seen
        if elapsed > self.view_seconds:
            return None
        if not elapsed or verdict.remaining >= budget.capacity:
            return verdict  # a full bucket stays full: the same answer, the same headers
        remaining = min(budget.capacity, verdict.remaining + elapsed * budget.refill_rate)
        return Verdict(True, "", verdict.budget, remaining, max(0.0, verdict.reset - elapsed))

    def _remember(self, budgets: Sequence[Budget], verdict: Verdict) -> None:
        key = _view_key(budgets)
        if not verdict.admitted or verdict.budget < 0:
            self._views.pop(key, None)
            return
        if len(self._views) >= _MAX_VIEWS and key not in self._views:
            self._views.clear()  # per-client budgets: keep memory bounded
        # An admission leaves every budget at least at 0: a request reserving
        # nothing would be admitted too, and would see these levels.
        self._views[key] = (time.monotonic(), verdict, budgets[verdict.budget])

    async def settle(
        self, budgets: Sequence[Budget], cost: int, slots: Sequence[Slot], lease: str, used: int
    ) -> None:
        if used > cost:  # charged more than reserved: the levels seen are too high now
            self._views.pop(_view_key(budgets), None)
        count, arguments = self._command(budgets, slots, cost, lease, bulk(used), limits=False)
        await self._run(self._settle, count, arguments)

    async def level(self, budget: Budget) -> float:
        """The tokens ``budget`` holds as last stored (no refill; for tests)."""
        value = await self.connection.call("HGET", self.prefix + budget.key, "level")
        return budget.capacity if value is None else float(value)

    async def aclose(self) -> None:
        await self.connection.aclose()


__all__ = ["ADMIT", "SETTLE", "RedisBackend"]
