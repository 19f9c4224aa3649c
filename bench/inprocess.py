"""The framework's own cost per request, without a server or a socket.

Each app is called directly with a synthetic ASGI scope, a ``receive`` that
hands over the request body and a ``send`` that drops what it is given, so
the time is the framework's alone (routing, request, handler call, response).
Regressions show here in seconds, on a quiet or a busy machine. Run:

    python bench/inprocess.py [--quick] [--frameworks raw-asgi,ember]

Reported: the best of several repeats (the least disturbed), in µs/request,
and the ratio of raw ASGI's time to each app's (1.0 = as cheap as raw ASGI).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from common import (
    APPS_DIR,
    BASELINE,
    ENDPOINTS,
    FRAMEWORKS,
    STREAM_EVENTS,
    asgi_scope,
    echo_body,
    method,
    url_path,
)

ASGIApp = Callable[..., Awaitable[None]]


def scope_for(endpoint: str, body: bytes) -> dict[str, Any]:
    """A scope as uvicorn's httptools protocol builds it."""
    return {**asgi_scope(method(endpoint), url_path(endpoint), body), "state": {}}


class Result:
    __slots__ = ("body_bytes", "chunks", "status")

    def __init__(self) -> None:
        self.status = 0
        self.body_bytes = 0
        self.chunks = 0


async def call_once(app: ASGIApp, template: dict[str, Any], body: bytes) -> Result:
    """One request through ``app``; the client 'disconnects' once the response ends."""
    loop = asyncio.get_running_loop()
    result = Result()
    body_sent = False
    finished: asyncio.Future[None] | None = None
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal body_sent, finished
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # Like uvicorn: nothing more until the response is over, then disconnect.
        if not done:
            finished = loop.create_future()
            await finished
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal done
        if message["type"] == "http.response.start":
            result.status = message["status"]
        elif message["type"] == "http.response.body":
            result.body_bytes += len(message.get("body", b""))
            result.chunks += 1
            if not message.get("more_body", False):
                done = True
                if finished is not None and not finished.done():
                    finished.set_result(None)

    await app(dict(template), receive, send)
    return result


def check(framework: str, endpoint: str, result: Result) -> None:
    if result.status != 200 or result.body_bytes == 0:
        raise SystemExit(f"{framework} {endpoint}: status {result.status}, {result.body_bytes} B")


async def measure(
    app: ASGIApp, endpoint: str, iterations: int, repeats: int
) -> tuple[float, Result]:
    body = echo_body() if endpoint == "/echo" else b""
    template = scope_for(endpoint, body)
    first = await call_once(app, template, body)
    for _ in range(min(iterations, 200)):  # warm-up: caches, lazily built stacks
        await call_once(app, template, body)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            await call_once(app, template, body)
        best = min(best, (time.perf_counter() - start) / iterations)
    return best * 1e6, first


def load(spec: str) -> ASGIApp:
    module, attribute = spec.split(":")
    return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]


async def run(frameworks: list[str], quick: bool) -> dict[str, dict[str, float]]:
    sys.path.insert(0, str(APPS_DIR))
    repeats = 3 if quick else 7
    timings: dict[str, dict[str, float]] = {}
    for framework in frameworks:
        app = load(FRAMEWORKS[framework])
        timings[framework] = {}
        for endpoint in ENDPOINTS:
            iterations = 1000 if quick else 5000
            if endpoint == "/stream":
                iterations //= 20
            micros, first = await measure(app, endpoint, iterations, repeats)
            check(framework, endpoint, first)
            timings[framework][endpoint] = micros
            print(
                f"{framework:10} {endpoint:12} {micros:9.1f} µs/request"
                f"  ({first.chunks} body message(s))",
                flush=True,
            )
    return timings


def report(timings: dict[str, dict[str, float]]) -> None:
    baseline = timings.get(BASELINE)
    print()
    print(f"{'endpoint':12} " + " ".join(f"{f:>26}" for f in timings))
    for endpoint in ENDPOINTS:
        cells = []
        for framework in timings:
            micros = timings[framework][endpoint]
            extra = (
                f" ({baseline[endpoint] / micros:.2f}x, {micros - baseline[endpoint]:+.1f})"
                if baseline
                else ""
            )
            cells.append(f"{micros:.1f} µs{extra}".rjust(26))
        print(f"{endpoint:12} " + " ".join(cells))
    print(
        f"\n(x = raw ASGI's time / the app's time; +µs = the app's cost over raw ASGI;"
        f" /stream is {STREAM_EVENTS} events)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--json", help="also write the timings to this JSON file")
    args = parser.parse_args()
    frameworks = [f for f in args.frameworks.split(",") if f]
    try:
        import uvloop
    except ImportError:
        uvloop = None
    runner = uvloop.run if uvloop is not None else asyncio.run
    timings = runner(run(frameworks, args.quick))
    report(timings)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"unit": "µs/request", "timings": timings}, out, indent=2)


if __name__ == "__main__":
    main()
