"""Soak: does Ember's memory stay flat under a long, mixed, real load?

One uvicorn worker (uvloop + httptools, pinned to CPU 0) serves ``app.py``
in front of the gateway benchmark's fake OpenAI upstream. A load generator
(asyncio + httpx, pinned to CPU 1) keeps 32 requests in flight for the whole
run, each one of:

- 35% gateway, whole answer (``/v1/chat/completions``);
- 35% gateway, streamed, read to the end;
- 10% gateway, streamed, the client leaving after the first chunk (the
  upstream request must be closed, the rate-limit lease settled);
- 20% ``/chat`` (ai_route): a turn of one of 20,000 sessions, new or
  continued, streamed to the end (sessions evicted past the store's bound).

Every request carries one of 2,000 API keys, so per-key budgets come and go.
The server's resident memory (``VmRSS``) is sampled every 5 s. The first
``--warmup`` minutes fill the bounded structures (5,000 sessions, 2,000
keys' budgets, connection pools, and replay buffers, which live 5 minutes
after their last event); after that the memory should not grow: the report
gives its slope (least squares, MiB per hour) and the first and last samples
after warm-up.

    python bench/soak/run.py                  # 30 minutes (6 of warm-up)
    python bench/soak/run.py --minutes 240    # a longer soak

Results: ``bench/results/soak-latest.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))

from common import free_port, wait_port  # noqa: E402  (bench/common.py)

UPSTREAM = ROOT / "bench" / "gateway" / "upstream.py"
RESULTS = ROOT / "bench" / "results"
IN_FLIGHT = 32
API_KEYS = 2_000
SESSIONS = 20_000
SAMPLE_EVERY = 5.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB), in MiB per hour."""
    if len(points) < 2:
        return 0.0
    times = [t for t, _ in points]
    values = [v for _, v in points]
    mean_t, mean_v = statistics.fmean(times), statistics.fmean(values)
    covariance = sum((t - mean_t) * (v - mean_v) for t, v in points)
    variance = sum((t - mean_t) ** 2 for t in times)
    return covariance / variance * 3600 if variance else 0.0


def chat_body(stream: bool) -> dict[str, Any]:
    return {
        "model": "bench-model",
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": f"Question {random.randrange(10**6)}: say hello."},
        ],
        "max_tokens": 64,
        "stream": stream,
    }


# Where each kind of request falls in [0, 1): see the module docstring.
KINDS = {"whole": (0.0, 0.35), "stream": (0.35, 0.70), "left": (0.70, 0.80), "chat": (0.80, 1.0)}


async def one_request(
    client: httpx.AsyncClient, outcomes: Counter[str], only: str | None = None
) -> None:
    key = {"authorization": f"Bearer soak-key-{random.randrange(API_KEYS)}"}
    kind = random.uniform(*KINDS[only]) if only else random.random()
    try:
        if kind < 0.35:
            response = await client.post("/v1/chat/completions", json=chat_body(False), headers=key)
            outcomes[f"whole {response.status_code}"] += 1
        elif kind < 0.80:
            leave_early = kind >= 0.70
            async with client.stream(
                "POST", "/v1/chat/completions", json=chat_body(True), headers=key
            ) as response:
                async for line in response.aiter_lines():
                    if leave_early and line.startswith("data: {"):
                        break
            outcomes[f"{'left' if leave_early else 'stream'} {response.status_code}"] += 1
        else:
            session = f"{random.randrange(SESSIONS):032x}"  # unknown ids get fresh sessions
            headers = {**key, "x-session-id": session}
            async with client.stream(
                "POST", "/chat", json={"message": "hello"}, headers=headers
            ) as response:
                async for _ in response.aiter_bytes():
                    pass
            outcomes[f"ai_route {response.status_code}"] += 1
    except httpx.HTTPError as exc:
        outcomes[f"client error {type(exc).__name__}"] += 1


async def load(base: str, seconds: float, outcomes: Counter[str], only: str | None) -> None:
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

        async def worker() -> None:
            while time.monotonic() < deadline:
                await one_request(client, outcomes, only)

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


async def sample(pid: int, seconds: float, samples: list[tuple[float, float]]) -> None:
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        samples.append((elapsed, rss_mib(pid)))
        await asyncio.sleep(SAMPLE_EVERY)
    samples.append((time.monotonic() - started, rss_mib(pid)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=6.0, help="minutes before the slope")
    parser.add_argument("--quick", action="store_true", help="3 minutes, 1 of warm-up")
    parser.add_argument("--only", choices=sorted(KINDS), help="one kind of request only")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.warmup = 3.0, 1.0
    seconds = args.minutes * 60

    upstream_port, server_port = free_port(), free_port()
    env = {
        **os.environ,
        "UPSTREAM_URL": f"http://127.0.0.1:{upstream_port}",
        "EMBER_LOAD_PLUGINS": "ai,ratelimit",
        "PYTHONPATH": str(HERE),
    }
    upstream = subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, str(UPSTREAM), str(upstream_port)], env=env
    )
    server = subprocess.Popen(
        [
            "taskset", "-c", "0", sys.executable, "-m", "uvicorn", "app:app",
            "--port", str(server_port), "--loop", "uvloop", "--http", "httptools",
            "--no-access-log", "--log-level", "warning",
        ],
        env=env,
    )  # fmt: skip
    try:
        wait_port(upstream_port, upstream, "upstream")
        wait_port(server_port, server, "uvicorn")
        os.sched_setaffinity(0, {1})  # the load generator stays off the server's CPU
        outcomes: Counter[str] = Counter()
        samples: list[tuple[float, float]] = []
        started = time.time()

        async def both() -> None:
            base = f"http://127.0.0.1:{server_port}"
            sampling = sample(server.pid, seconds, samples)
            await asyncio.gather(load(base, seconds, outcomes, args.only), sampling)

        asyncio.run(both())
        took = time.time() - started
    finally:
        for process in (server, upstream):
            process.terminate()
            process.wait(timeout=15)

    after = [(t, v) for t, v in samples if t >= args.warmup * 60]
    requests = sum(outcomes.values())
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "minutes": args.minutes,
        "warmup_minutes": args.warmup,
        "requests": requests,
        "requests_per_s": round(requests / took, 1),
        "outcomes": dict(sorted(outcomes.items())),
        "rss_start_mib": round(samples[0][1], 1),
        "rss_after_warmup_mib": round(after[0][1], 1),
        "rss_end_mib": round(samples[-1][1], 1),
        "rss_max_mib": round(max(v for _, v in samples), 1),
        "slope_after_warmup_mib_per_hour": round(slope_per_hour(after), 2),
        "samples": [(round(t, 1), round(v, 2)) for t, v in samples],
    }
    RESULTS.mkdir(exist_ok=True)
    name = "soak-quick.json" if args.quick else "soak-latest.json"
    (RESULTS / name).write_text(json.dumps(report, indent=1) + "\n")
    print("| minutes | requests | requests/s | RSS after warm-up | at end | max | slope |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {args.minutes:g} | {requests} | {report['requests_per_s']} | "
        f"{report['rss_after_warmup_mib']} MiB | {report['rss_end_mib']} MiB | "
        f"{report['rss_max_mib']} MiB | {report['slope_after_warmup_mib_per_hour']} MiB/h |"
    )
    print("outcomes:", json.dumps(report["outcomes"]))


if __name__ == "__main__":
    main()
