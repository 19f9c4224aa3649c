"""What ember-ratelimit costs: per check, in Redis round trips, and in requests/s.

Three parts, one run:

1. Per-check cost of each backend, in-process: the time of one reservation
   (admission) and one settlement, for a request drawing on two budgets (the
   global one and its key's) and a concurrency slot, 64 requests in flight.
   For Redis that is one round trip to a redis-server on the same machine.
2. Redis round trips per admission and per settlement, counted from Redis's
   own ``INFO commandstats`` (commands a script runs inside Redis are not
   round trips and are reported apart).
3. The JSON endpoint's requests/s with and without the middleware: the same
   app served by uvicorn (1 worker, uvloop + httptools, pinned to CPU 0) with
   no middleware, with one empty middleware (``passthrough``), with the three
   ``x-ratelimit-*`` headers written by the endpoints' own responses
   (``in-response``, no layer) or added by a layer that does nothing else
   (``headers``), with RateLimitMiddleware on the in-memory backend (the
   benchmark's budget, far larger than the load, so always full; and
   ``memory-busy``, a bucket never full), and on Redis; wrk (pinned to
   CPU 1) against each in turn, round after round, the median kept.
   ``GET /json`` is the core benchmark's JSON endpoint (nothing to reserve:
   no settlement, and on Redis no round trip while the backend's view is
   fresh); ``POST /v1/chat/completions`` is a model-shaped JSON request
   whose estimate is reserved and settled. Requests per CPU-second of the
   server are reported beside requests/s: on a shared machine they are the
   steadier figure.

    python bench/ratelimit/run.py            # about 10 minutes
    python bench/ratelimit/run.py --quick    # about 1 minute

Results go to ``bench/results/ratelimit-latest.json``; the Markdown table for
docs/benchmarks.md is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests"))

sys.path.insert(0, str(ROOT / "bench"))

from common import free_port  # noqa: E402
from servers import redis_server  # noqa: E402  (the test suite's real redis-server)

SERVER_CPU, CLIENT_CPU = 0, 1
# "passthrough" is one empty ASGI middleware: the floor any middleware starts from.
# "memory-busy": the in-memory backend with a bucket that is never full.
# "headers" adds the limiter's three headers and does nothing else: what any
# limiter that reports them on every response costs at least. "in-response" is
# the server's share of that: no layer, the endpoints' own responses carry them.
MODES = ["none", "passthrough", "in-response", "headers", "memory", "memory-busy", "redis"]
LIMITED = {"memory", "memory-busy", "redis"}
WITH_HEADERS = LIMITED | {"in-response", "headers"}
ENDPOINTS = ["GET /json", "POST /v1/chat/completions"]
# The targets are for the JSON endpoint.
TARGETS = {"memory": 0.95, "memory-busy": 0.95, "redis": 0.75}
TARGET_ENDPOINT = "GET /json"
CHAT_BODY = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Say hello to the benchmark in one short sentence."},
    ],
    "max_tokens": 16,
}
# Commands the Lua scripts run inside Redis: in commandstats, but not round trips.
IN_SCRIPT = {
    "time", "hmget", "hset", "pexpire", "persist", "zrangebyscore", "zremrangebyscore",
    "zcard", "zadd", "zrem",
}  # fmt: skip


# ------------------------------------------------------------------ part 1 and 2


def commandstats(url: str) -> dict[str, int]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def round_trips(before: dict[str, int], after: dict[str, int], n: int) -> dict[str, float]:
    changed = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    for own in ("info", "hello", "client|setinfo", "client"):  # this script's INFO connection
        changed.pop(own, None)
    outside = {k: v for k, v in changed.items() if k not in IN_SCRIPT}
    inside = {k: v for k, v in changed.items() if k in IN_SCRIPT}
    return {
        "round_trips": round(sum(outside.values()) / n, 3),
        "commands": {k: round(v / n, 3) for k, v in sorted(outside.items())},
        "inside_script": {k: round(v / n, 3) for k, v in sorted(inside.items())},
    }


async def timed_checks(backend: Any, n: int, budgets: Any, slots: Any) -> tuple[float, float]:
    """Mean µs per reservation and per settlement, 64 requests in flight at a time.

    The 64 calls of a batch run concurrently (as 64 requests would), except on
    the in-memory backend, which never waits: there they are called in turn
    and the cost is the backend's own, not the tasks'."""
    reserving = settling = 0.0
    waits = not hasattr(backend, "reserve_now")
    for batch in range(n // 64):
        leases = [f"b{batch}-{i}" for i in range(64)]
        started = time.perf_counter()
        if waits:
            await asyncio.gather(*(backend.reserve(budgets, 100, slots, x) for x in leases))
        else:
            for lease in leases:
                backend.reserve_now(budgets, 100, slots, lease)
        middle = time.perf_counter()
        if waits:
            await asyncio.gather(*(backend.settle(budgets, 100, slots, x, 50) for x in leases))
        else:
            for lease in leases:
                backend.settle_now(budgets, 100, slots, lease, 50)
        reserving += middle - started
        settling += time.perf_counter() - middle
    done = n // 64 * 64
    return reserving / done * 1e6, settling / done * 1e6


async def per_check(redis_url: str, quick: bool) -> dict[str, Any]:
    from ember.ratelimit.backends import MemoryBackend, Slot
    from ember.ratelimit.backends.redis import RedisBackend
    from ember.ratelimit.buckets import Budget

    # A request drawing on the global budget, its key's budget and a concurrency slot.
    budgets = [Budget("global", 1e12, 1e9, "global"), Budget("key:k", 1e12, 1e9, "per-key")]
    slots = [Slot("conc:k", 1_000_000)]
    results: dict[str, Any] = {}

    memory = MemoryBackend()
    n = 20_000 if quick else 100_000
    await timed_checks(memory, 6400, budgets, slots)  # warm up
    admission, settlement = await timed_checks(memory, n, budgets, slots)
    results["memory"] = {
        "checks": n,
        "admission_us": round(admission, 2),
        "settlement_us": round(settlement, 2),
    }

    backend = RedisBackend(redis_url, prefix=f"bench-check:{os.getpid()}:")
    n = 2_048 if quick else 10_048
    await timed_checks(backend, 640, budgets, slots)  # connects, loads the scripts
    before = commandstats(redis_url)
    admission, settlement = await timed_checks(backend, n, budgets, slots)
    after = commandstats(redis_url)
    # Round trips of each kind, counted apart: n admissions, then n settlements.
    lease = "trips"
    stats0 = commandstats(redis_url)
    for i in range(1000):
        await backend.reserve(budgets, 100, slots, f"{lease}{i}")
    stats1 = commandstats(redis_url)
    for i in range(1000):
        await backend.settle(budgets, 100, slots, f"{lease}{i}", 50)
    stats2 = commandstats(redis_url)
    await backend.aclose()
    results["redis"] = {
        "checks": n,
        "admission_us": round(admission, 1),
        "settlement_us": round(settlement, 1),
        "per_check_pair": round_trips(before, after, n),
        "per_admission": round_trips(stats0, stats1, 1000),
        "per_settlement": round_trips(stats1, stats2, 1000),
    }
    return results


# ------------------------------------------------------------------ part 3


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serve(mode: str, redis_url: str, log_dir: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        **os.environ,
        "EMBER_LOAD_PLUGINS": "ratelimit",  # the same plugins in every mode
        "RATELIMIT_BENCH_MODE": mode,
        "RATELIMIT_BENCH_REDIS": redis_url,
    }
    command = [
        "taskset", "-c", str(SERVER_CPU), sys.executable, "-m", "uvicorn", "app:app",
        "--app-dir", str(HERE), "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    log = log_dir / f"{mode}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/json", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{mode} server did not start:\n{log.read_text()}") from None
                time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def check(base: str, mode: str) -> None:
    """Refuse to measure a server that answers wrongly (a fast 429 is no result)."""
    request = urllib.request.Request(
        base + "/v1/chat/completions",
        data=json.dumps(CHAT_BODY).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        limited = "x-ratelimit-limit-tokens" in response.headers
        if response.status != 200 or limited != (mode in WITH_HEADERS):
            raise SystemExit(f"{mode}: status {response.status}, rate-limit headers: {limited}")


def wrk(base: str, pid: int, endpoint: str, seconds: float, script: Path) -> dict[str, float]:
    verb, path = endpoint.split(" ", 1)
    command = [
        "taskset", "-c", str(CLIENT_CPU), "wrk", "-t1", "-c64", f"-d{seconds:g}s",
        "--timeout", "10s",
    ]  # fmt: skip
    if verb == "POST":
        command += ["-s", str(script)]
    command.append(base + path)
    cpu_before = cpu_seconds(pid)
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    cpu = cpu_seconds(pid) - cpu_before
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if rate is None or total is None:
        raise SystemExit(f"could not read wrk's output:\n{output}")
    if bad:
        raise SystemExit(f"{base}{path}: {bad.group(1)} non-2xx responses")
    return {
        "requests_per_s": float(rate.group(1)),
        "requests": int(total.group(1)),
        "requests_per_cpu_s": round(int(total.group(1)) / cpu, 1) if cpu else 0.0,
    }


def throughput(redis_url: str, rounds: int, seconds: float, tmp: Path) -> dict[str, Any]:
    script = tmp / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(CHAT_BODY))}\n"
    )
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        m: {e: [] for e in ENDPOINTS} for m in MODES
    }
    redis_trips: dict[str, list[float]] = {e: [] for e in ENDPOINTS}
    with ExitStack() as stack:
        servers = {m: stack.enter_context(serve(m, redis_url, tmp)) for m in MODES}
        for mode, (base, _) in servers.items():
            check(base, mode)
        for round_number in range(rounds):
            for endpoint in ENDPOINTS:
                for mode in MODES:
                    base, pid = servers[mode]
                    if round_number == 0:
                        wrk(base, pid, endpoint, 1.0, script)  # warm up
                    before = commandstats(redis_url) if mode == "redis" else {}
                    measured = wrk(base, pid, endpoint, seconds, script)
                    runs[mode][endpoint].append(measured)
                    if mode == "redis":
                        trips = round_trips(before, commandstats(redis_url), measured["requests"])
                        redis_trips[endpoint].append(trips["round_trips"])
                    print(f"  round {round_number + 1} {mode:6} {endpoint}: {measured}")
    summary: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        base_rps = statistics.median(r["requests_per_s"] for r in runs["none"][endpoint])
        base_cpu = statistics.median(r["requests_per_cpu_s"] for r in runs["none"][endpoint])
        rows = {}
        for mode in MODES:
            rps = statistics.median(r["requests_per_s"] for r in runs[mode][endpoint])
            per_cpu = statistics.median(r["requests_per_cpu_s"] for r in runs[mode][endpoint])
            rows[mode] = {
                "requests_per_s": rps,
                "ratio": round(rps / base_rps, 3),
                "requests_per_cpu_s": per_cpu,
                "ratio_per_cpu": round(per_cpu / base_cpu, 3),
            }
        rows["redis"]["round_trips_per_request"] = statistics.median(redis_trips[endpoint])
        summary[endpoint] = rows
    return {"summary": summary, "runs": runs}


# ------------------------------------------------------------------ report


def table(record: dict[str, Any]) -> str:
    checks = record["per_check"]
    lines = [
        "| backend | admission | settlement | Redis round trips per admission / settlement |",
        "| --- | --- | --- | --- |",
        f"| in-memory | {checks['memory']['admission_us']} µs | "
        f"{checks['memory']['settlement_us']} µs | — |",
        f"| Redis (localhost) | {checks['redis']['admission_us']} µs | "
        f"{checks['redis']['settlement_us']} µs | "
        f"{checks['redis']['per_admission']['round_trips']} / "
        f"{checks['redis']['per_settlement']['round_trips']} |",
        "",
        "| endpoint | middleware | requests/s | × without | requests per CPU-s | × without "
        "| target | Redis round trips per request |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for endpoint, rows in record["throughput"]["summary"].items():
        for mode, row in rows.items():
            on_target = mode in TARGETS and endpoint == TARGET_ENDPOINT
            target = f"≥ {TARGETS[mode]}×" if on_target else ""
            trips = row.get("round_trips_per_request", "")
            lines.append(
                f"| `{endpoint}` | {mode} | {row['requests_per_s']:.0f} | {row['ratio']} | "
                f"{row['requests_per_cpu_s']:.0f} | {row['ratio_per_cpu']} | {target} | {trips} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--rounds", type=int, help="wrk rounds per mode and endpoint (5)")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (6)")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 5)
    seconds = args.duration or (2.0 if args.quick else 6.0)
    os.sched_setaffinity(0, {CLIENT_CPU})  # this driver stays off the servers' CPU
    with redis_server() as redis_url, tempfile.TemporaryDirectory() as tmp:
        print("per-check cost ...")
        checks = asyncio.run(per_check(redis_url, args.quick))
        print(json.dumps(checks, indent=2))
        print("requests/s with and without the middleware ...")
        measured = throughput(redis_url, rounds, seconds, Path(tmp))
    record = {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "python": platform.python_version(),
        "method": {
            "rounds": rounds,
            "duration_s": seconds,
            "server": "uvicorn 1 worker, uvloop + httptools, taskset -c 0",
            "client": "wrk -t1 -c64, taskset -c 1; redis-server unpinned",
        },
        "per_check": checks,
        "throughput": measured,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "ratelimit-latest.json").write_text(json.dumps(record, indent=2) + "\n")
    print()
    print(table(record))


if __name__ == "__main__":
    main()
