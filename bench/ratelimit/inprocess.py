"""What RateLimitMiddleware costs per request, measured in-process (no HTTP, no wrk).

The benchmark app (``app.py``) is built in each variant -- no middleware, one
empty layer (``passthrough``), the limiter on the in-memory backend (with the
benchmark's huge budget, always full, and ``memory-busy``, never full) and on
Redis -- and called directly as ASGI with a synthetic scope like uvicorn's,
a ``receive`` that hands over the body and a ``send`` that drops everything.
Variants take turns, round after round, and each keeps its best round: on a
shared machine the minimum is the steadiest estimate of the CPU a request
costs. Reported: µs per request and the ratio of requests/s against no
middleware (what the HTTP benchmark, ``run.py``, measures for real: the HTTP
server's own ~20 µs per request comes on top, so its ratios are closer to 1).

    python bench/ratelimit/inprocess.py                 # about 1 minute
    python bench/ratelimit/inprocess.py --profile memory --endpoint "GET /json"
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("EMBER_LOAD_PLUGINS", "ratelimit")  # as run.py serves it

from app import make_app  # noqa: E402
from common import asgi_scope  # noqa: E402  (bench/common.py: the scope uvicorn builds)
from servers import redis_server  # noqa: E402

MODES = ["none", "passthrough", "in-response", "headers", "memory", "memory-busy", "redis"]
ENDPOINTS = ["GET /json", "POST /v1/chat/completions"]
CHAT_BODY = json.dumps(
    {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Say hello to the benchmark in one short sentence."},
        ],
        "max_tokens": 16,
    }
).encode()

Call = Callable[[], Awaitable[None]]


def request_maker(app: Any, endpoint: str) -> Call:
    """One request to ``app``, as uvicorn with httptools would call it."""
    method, path = endpoint.split(" ", 1)
    body = CHAT_BODY if method == "POST" else b""
    template = asgi_scope(method, path, body)
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(event: dict[str, Any]) -> None:
        if event["type"] == "http.response.start" and event["status"] != 200:
            raise SystemExit(f"{endpoint} answered {event['status']}, not 200")

    async def one() -> None:
        await app({**template, "state": {}}, receive, send)

    return one


async def per_request(call: Call, n: int, in_flight: int = 64) -> float:
    """CPU µs of this process per request, ``in_flight`` requests at a time (as wrk -c64).

    CPU time, not wall time: a Redis variant's wait for redis-server (another
    process, on the other core) is not the app's cost, its own work is.
    """

    async def worker() -> None:
        for _ in range(n // in_flight):
            await call()

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return (time.process_time() - started) / (n // in_flight * in_flight) * 1e6


async def measure(apps: dict[str, Any], rounds: int, n: int) -> dict[str, dict[str, float]]:
    best: dict[str, dict[str, float]] = {e: {} for e in ENDPOINTS}
    for endpoint in ENDPOINTS:
        calls = {mode: request_maker(app, endpoint) for mode, app in apps.items()}
        for call in calls.values():
            await per_request(call, n // 5)  # warm up (connects to Redis, loads tiktoken)
        for _ in range(rounds):
            for mode, call in calls.items():
                took = await per_request(call, n)
                best[endpoint][mode] = min(took, best[endpoint].get(mode, took))
    return best


def report(best: dict[str, dict[str, float]]) -> None:
    print("| endpoint | middleware | µs per request | + µs | × without |")
    print("| --- | --- | --- | --- | --- |")
    for endpoint, rows in best.items():
        base = rows["none"]
        for mode, took in rows.items():
            print(
                f"| `{endpoint}` | {mode} | {took:.2f} | {took - base:+.2f} | {base / took:.3f} |"
            )


async def main_async(args: argparse.Namespace, redis_url: str) -> None:
    modes = [args.profile] if args.profile else MODES
    apps = {mode: make_app(mode, redis_url) for mode in modes}
    for app in apps.values():
        await app.startup()
    try:
        if args.profile:
            call = request_maker(apps[args.profile], args.endpoint)
            await per_request(call, 2000)
            profiler = cProfile.Profile()
            profiler.enable()
            await per_request(call, args.requests)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            return
        report(await measure(apps, args.rounds, args.requests))
    finally:
        for app in apps.values():
            await app.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=20_000, help="per round and variant")
    parser.add_argument("--profile", choices=MODES, help="cProfile one variant instead")
    parser.add_argument("--endpoint", choices=ENDPOINTS, default=ENDPOINTS[0])
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio")
    args = parser.parse_args()
    with ExitStack() as stack:
        needs_redis = args.profile in (None, "redis")
        redis_url = stack.enter_context(redis_server()) if needs_redis else ""
        if args.no_uvloop:
            asyncio.run(main_async(args, redis_url))
        else:
            import uvloop

            uvloop.run(main_async(args, redis_url))


if __name__ == "__main__":
    main()
