"""Ember beside raw ASGI, Starlette and FastAPI, each served by uvicorn, under wrk.

One run starts all four apps at once (uvicorn, 1 worker, uvloop + httptools,
every server pinned to CPU 0 with ``taskset``), then measures each endpoint of
each app in turn with wrk pinned to CPU 1, round after round, so that a busy
spell on the machine hits every app alike. The figure kept per app and
endpoint is the median over the rounds; its ratio to raw ASGI's median is the
number the targets are about. Beside requests/s, each wrk run reads the
server's CPU time, giving requests per CPU-second: the cost per request, which
other processes taking CPU 0 away do not change. Then a fresh server per app
gets N idle SSE streams (a small asyncio client on CPU 1) and the growth of
its resident memory, divided by N, is the memory per idle stream.

    python bench/run.py            # the full run (about 11 minutes)
    python bench/run.py --quick    # a smoke run (about 1 minute)

A full run writes ``bench/results/core-<UTC time>.json``, ``core-latest.json``
and ``core-latest.md`` (the tables of docs/benchmarks.md) and draws
``docs/bench-core.png``; a quick run writes ``bench/results/core-quick.*``.
Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    APPS_DIR,
    BASELINE,
    BENCH_DIR,
    ENDPOINTS,
    FRAMEWORKS,
    ROOT,
    STREAM_EVENTS,
    echo_body,
    free_port,
    method,
    url_path,
)

SERVER_CPU = 0
CLIENT_CPU = 1
TARGETS = {"/json": 0.85, "/items/{id}": 0.85, "/echo": 0.85, "/stream": 1.0}
IDLE_TARGET_KB = 16.0


@dataclass
class Server:
    framework: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kb(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert match, "no VmRSS in /proc/<pid>/status"
        return int(match.group(1))

    def cpu_seconds(self) -> float:
        # Fields 14 and 15 of /proc/<pid>/stat: user and system time in clock ticks.
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Measurement:
    requests_per_s: float
    # Requests served per second of the server's own CPU time: the cost per
    # request, which time stolen by other processes on CPU 0 does not change.
    requests_per_cpu_s: float
    non_2xx: int
    errors: int
    server_cpu_share: float  # of CPU 0 over the run; well under 1 = the server waited
    others_cpu0_share: float  # CPU 0 time used by other processes (the shared machine)
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None


@dataclass
class Results:
    runs: dict[str, dict[str, list[Measurement]]] = field(default_factory=dict)
    idle_kb: dict[str, float] = field(default_factory=dict)


# Loopback only: never through a proxy the environment may name.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@contextmanager
def serve(framework: str, log_dir: Path) -> Any:
    """Start one app under uvicorn on CPU 0; stop it on exit."""
    port = free_port()
    log = log_dir / f"{framework}.log"
    command = [
        "taskset", "-c", str(SERVER_CPU),
        sys.executable, "-m", "uvicorn", FRAMEWORKS[framework],
        "--app-dir", str(APPS_DIR),
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--loop", "uvloop", "--http", "httptools",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with open(log, "wb") as out:
        # taskset execs the interpreter, so this pid is the server's own.
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = Server(framework, port, process, log)
    try:
        wait_until_up(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until_up(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.framework} exited:\n{server.log.read_text()}")
        try:
            with LOCAL.open(server.base + "/json", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(
        f"{server.framework} did not start in {timeout:.0f}s:\n{server.log.read_text()}"
    )


def check_endpoints(server: Server, body: bytes) -> None:
    """Refuse to benchmark an app that answers wrongly (a fast 404 is no result)."""
    for endpoint in ENDPOINTS:
        request = urllib.request.Request(
            server.base + url_path(endpoint),
            data=body if method(endpoint) == "POST" else None,
            headers={"content-type": "application/json"},
            method=method(endpoint),
        )
        with LOCAL.open(request, timeout=10) as response:
            data = response.read()
            status = response.status
        problem = None
        if status != 200:
            problem = f"status {status}"
        elif endpoint == "/echo" and json.loads(data) != json.loads(body):
            problem = "the body was not echoed"
        elif endpoint == "/items/{id}" and json.loads(data).get("id") != 42:
            problem = f"unexpected item {data[:80]!r}"
        elif endpoint == "/stream" and data.count(b"data: token ") != STREAM_EVENTS:
            problem = f"{data.count(b'data: token ')} events instead of {STREAM_EVENTS}"
        if problem:
            raise SystemExit(f"{server.framework} {endpoint}: {problem}")


def wrk(
    server: Server, endpoint: str, seconds: float, connections: int, script: Path
) -> Measurement:
    command = [
        "taskset", "-c", str(CLIENT_CPU), "wrk",
        "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s",
    ]  # fmt: skip
    if method(endpoint) == "POST":
        command += ["-s", str(script)]
    command.append(server.base + url_path(endpoint))
    cpu_before, cpu0_before, started = (
        server.cpu_seconds(),
        cpu_busy_seconds(SERVER_CPU),
        time.monotonic(),
    )
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    elapsed = time.monotonic() - started
    server_cpu = server.cpu_seconds() - cpu_before
    others = max(0.0, cpu_busy_seconds(SERVER_CPU) - cpu0_before - server_cpu)
    return parse_wrk(output, server_cpu, elapsed, others)


def cpu_busy_seconds(cpu: int) -> float:
    """Time CPU ``cpu`` spent busy since boot (all processes), from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            ticks = [int(n) for n in line.split()[1:]]
            idle = ticks[3] + ticks[4]  # idle + iowait
            return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    raise RuntimeError(f"cpu{cpu} not in /proc/stat")


def parse_wrk(output: str, server_cpu: float, elapsed: float, others: float) -> Measurement:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rate is None or total is None:
        raise SystemExit(f"could not read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return Measurement(
        requests_per_s=float(rate.group(1)),
        requests_per_cpu_s=round(int(total.group(1)) / server_cpu, 1) if server_cpu else 0.0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(n) for n in errors.groups()) if errors else 0,
        server_cpu_share=round(server_cpu / elapsed, 3),
        others_cpu0_share=round(others / elapsed, 3),
        latency_p50_ms=latency_ms(output, "50%"),
        latency_p99_ms=latency_ms(output, "99%"),
    )


def latency_ms(output: str, percentile: str) -> float | None:
    match = re.search(rf"^\s+{re.escape(percentile)}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        return None
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    return round(float(match.group(1)) * scale, 3)


def measure_throughput(
    frameworks: list[str],
    rounds: int,
    duration: float,
    connections: int,
    tmp: Path,
    body: bytes,
    endpoints: list[str],
) -> dict[str, dict[str, list[Measurement]]]:
    """wrk against every app and endpoint, interleaved round after round."""
    script = tmp / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body.decode())}\n"
    )
    runs: dict[str, dict[str, list[Measurement]]] = {}
    with ExitStack() as stack:
        servers = {f: stack.enter_context(serve(f, tmp)) for f in frameworks}
        for server in servers.values():
            check_endpoints(server, body)
            for endpoint in endpoints:  # warm-up, not kept
                wrk(server, endpoint, 1.0, connections, script)
        for round_number in range(1, rounds + 1):
            for endpoint in endpoints:
                for framework, server in servers.items():
                    measured = wrk(server, endpoint, duration, connections, script)
                    runs.setdefault(framework, {}).setdefault(endpoint, []).append(measured)
                    print(
                        f"round {round_number}/{rounds} {endpoint:12} {framework:10}"
                        f" {measured.requests_per_s:>10,.0f} req/s"
                        f"  ({measured.requests_per_cpu_s:>8,.0f}/CPU-s)"
                        f"  CPU 0: server {measured.server_cpu_share:.0%},"
                        f" others {measured.others_cpu0_share:.0%}"
                        + (f"  non-2xx {measured.non_2xx}" if measured.non_2xx else "")
                        + (f"  socket errors {measured.errors}" if measured.errors else ""),
                        flush=True,
                    )
    return runs


# ---------------------------------------------------------------- idle SSE memory


async def open_idle_streams(port: int, count: int) -> list[asyncio.StreamWriter]:
    """Open ``count`` SSE streams to /idle and wait for each response's headers.

    The endpoint's generator sleeps for minutes before its first event, so
    each stream stays open and idle for as long as we hold the connection.
    """
    request = b"GET /idle HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    gate = asyncio.Semaphore(50)

    async def open_one() -> asyncio.StreamWriter:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"/idle answered {head[:40]!r}")
            return writer

    return await asyncio.gather(*(open_one() for _ in range(count)))


async def close_all(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)


async def idle_memory_kb(server: Server, count: int) -> float:
    """Server RSS growth per idle SSE stream, in KB."""
    # Warm up first so one-time costs (lazily built stacks, imports on first
    # use, the first event-loop allocations) are not charged to the streams.
    await close_all(await open_idle_streams(server.port, 20))
    await asyncio.sleep(1.0)
    before = server.rss_kb()
    writers = await open_idle_streams(server.port, count)
    await asyncio.sleep(1.0)
    after = server.rss_kb()
    await close_all(writers)
    return (after - before) / count


# ---------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    mhz = re.search(r"^cpu MHz\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    versions = {}
    for name in [
        "uvicorn",
        "uvloop",
        "httptools",
        "starlette",
        "fastapi",
        "sse-starlette",
        "ember-core",
    ]:
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            versions[name] = "?"
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    return {
        "cpu": model.group(1) if model else "?",
        "cpu_mhz": mhz.group(1) if mhz else "?",
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "wrk": wrk_version.split("[")[0].strip(),
        "versions": versions,
    }


def summarise(results: Results) -> dict[str, Any]:
    def medians(metric: str) -> dict[str, dict[str, float]]:
        return {
            framework: {
                endpoint: statistics.median(getattr(m, metric) for m in runs)
                for endpoint, runs in by_endpoint.items()
            }
            for framework, by_endpoint in results.runs.items()
        }

    def ratios(values: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        baseline = values.get(BASELINE, {})
        return {
            framework: {
                endpoint: round(value / baseline[endpoint], 3)
                for endpoint, value in by_endpoint.items()
                if baseline.get(endpoint)
            }
            for framework, by_endpoint in values.items()
        }

    # (max - min) / median of requests/s over the rounds: how noisy the machine was.
    spread = {
        framework: {
            endpoint: round((max(rates) - min(rates)) / statistics.median(rates), 3)
            for endpoint, runs in by_endpoint.items()
            if (rates := [m.requests_per_s for m in runs])
        }
        for framework, by_endpoint in results.runs.items()
    }
    per_second, per_cpu_second = medians("requests_per_s"), medians("requests_per_cpu_s")
    everything = [m for by_e in results.runs.values() for runs in by_e.values() for m in runs]
    others = sorted(m.others_cpu0_share for m in everything)
    return {
        "noise": {
            "others_cpu0_share_median": statistics.median(others) if others else None,
            "others_cpu0_share_max": others[-1] if others else None,
            "server_cpu_share_median": (
                statistics.median(m.server_cpu_share for m in everything) if everything else None
            ),
        },
        "median_requests_per_s": per_second,
        "ratio_to_raw": ratios(per_second),
        "median_requests_per_cpu_s": per_cpu_second,
        "ratio_to_raw_per_cpu_s": ratios(per_cpu_second),
        "spread": spread,
    }


def print_table(summary: dict[str, Any], idle_kb: dict[str, float]) -> None:
    for title, values_key, ratios_key in [
        ("requests/s", "median_requests_per_s", "ratio_to_raw"),
        ("requests per server CPU-second", "median_requests_per_cpu_s", "ratio_to_raw_per_cpu_s"),
    ]:
        values, ratios = summary[values_key], summary[ratios_key]
        frameworks = list(values)
        print(f"\n{title}, median over rounds (x = ratio to raw ASGI)")
        print(f"{'endpoint':12}" + "".join(f"{f:>22}" for f in frameworks))
        for endpoint in [e for e in ENDPOINTS if frameworks and e in values[frameworks[0]]]:
            cells = [
                f"{values[f][endpoint]:,.0f} ({ratios[f].get(endpoint, 0):.2f}x)".rjust(22)
                for f in frameworks
            ]
            print(f"{'':2}{endpoint:10}" + "".join(cells))
    if idle_kb:
        print(f"\n{'idle SSE KB':12}" + "".join(f"{idle_kb.get(f, 0):>22.1f}" for f in idle_kb))


def markdown_table(summary: dict[str, Any], idle_kb: dict[str, float]) -> str:
    """The results as the Markdown tables docs/benchmarks.md shows."""
    out = []
    for title, values, ratios in [
        ("Requests/s (median over rounds; ± half the min-max spread)",
         summary["median_requests_per_s"], summary["ratio_to_raw"]),
        ("Requests per second of server CPU time (median over rounds)",
         summary["median_requests_per_cpu_s"], summary["ratio_to_raw_per_cpu_s"]),
    ]:  # fmt: skip
        frameworks = list(values)
        if not frameworks:
            continue
        out += [f"{title}:", "", "| endpoint | " + " | ".join(frameworks) + " |"]
        out.append("|---|" + "---:|" * len(frameworks))
        for endpoint in [e for e in ENDPOINTS if e in values[frameworks[0]]]:
            cells = []
            for f in frameworks:
                cell = f"{values[f][endpoint]:,.0f} (**{ratios[f][endpoint]:.2f}x**)"
                if values is summary["median_requests_per_s"]:
                    cell += f" ±{summary['spread'][f][endpoint] / 2:.0%}"
                cells.append(cell)
            out.append(f"| `{method(endpoint)} {endpoint}` | " + " | ".join(cells) + " |")
        out.append("")
    if idle_kb:
        out += ["Server memory per idle SSE stream:", ""]
        out += ["| " + " | ".join(idle_kb) + " |", "|" + "---:|" * len(idle_kb)]
        out += ["| " + " | ".join(f"{kb:.1f} KB" for kb in idle_kb.values()) + " |", ""]
    return "\n".join(out)


def check_targets(summary: dict[str, Any], idle_kb: dict[str, float]) -> list[str]:
    lines = []
    ember = summary["ratio_to_raw"].get("ember", {})
    for endpoint, target in TARGETS.items():
        if endpoint in ember:
            verdict = "met" if ember[endpoint] >= target else "MISSED"
            lines.append(
                f"ember {endpoint}: {ember[endpoint]:.2f}x raw (target >= {target}x) {verdict}"
            )
    if "ember" in idle_kb:
        verdict = "met" if idle_kb["ember"] <= IDLE_TARGET_KB else "MISSED"
        lines.append(
            f"ember idle SSE: {idle_kb['ember']:.1f} KB (target <= {IDLE_TARGET_KB} KB) {verdict}"
        )
    return lines


COLOURS = {"raw-asgi": "#9e9e9e", "starlette": "#5c8dd6", "fastapi": "#2a9d8f", "ember": "#e4572e"}
RATIO_CAP = 1.6  # taller bars are cut here (labelled with their value) to keep 0.85 vs 1 readable


def draw_chart(summary: dict[str, Any], idle_kb: dict[str, float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 3 if idle_kb else 2
    figure, axes = plt.subplots(
        1, panels, figsize=(6 * panels - 1, 4.8), gridspec_kw={"width_ratios": [3, 3, 1.6][:panels]}
    )
    ratio_panel(axes[0], summary["ratio_to_raw"], "requests/s (as measured)")
    ratio_panel(axes[1], summary["ratio_to_raw_per_cpu_s"], "requests per server CPU-second")
    if idle_kb:
        memory = axes[2]
        names = list(idle_kb)
        bars = memory.bar(names, [idle_kb[f] for f in names], color=[COLOURS.get(f) for f in names])
        memory.bar_label(bars, labels=[f"{idle_kb[f]:.1f}" for f in names], fontsize=8)
        memory.axhline(IDLE_TARGET_KB, color="#e4572e", linewidth=0.8, linestyle="--")
        memory.set_ylabel("KB of server RSS per idle SSE stream")
        memory.set_title("Memory per idle stream", fontsize=10)
        memory.tick_params(axis="x", labelrotation=30)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def ratio_panel(axis: Any, ratios: dict[str, dict[str, float]], what: str) -> None:
    """Grouped bars: each app's ``what`` relative to raw ASGI's, per endpoint."""
    frameworks = list(ratios)
    endpoints = [e for e in ENDPOINTS if frameworks and e in ratios[frameworks[0]]]
    width = 0.8 / max(len(frameworks), 1)
    for i, framework in enumerate(frameworks):
        xs = [e + (i - (len(frameworks) - 1) / 2) * width for e in range(len(endpoints))]
        values = [ratios[framework].get(endpoint, 0.0) for endpoint in endpoints]
        bars = axis.bar(
            xs, [min(v, RATIO_CAP) for v in values], width, label=framework,
            color=COLOURS.get(framework),
        )  # fmt: skip
        axis.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=7, padding=1)
    axis.axhline(1.0, color="#555555", linewidth=0.8)
    axis.axhline(0.85, color="#e4572e", linewidth=0.8, linestyle="--", label="target 0.85x")
    axis.set_ylim(0, RATIO_CAP + 0.1)
    axis.set_xticks(range(len(endpoints)), [f"{method(e)} {e}" for e in endpoints], fontsize=8)
    axis.set_ylabel(f"{what}, relative to raw ASGI", fontsize=8)
    axis.set_title(f"{what} / raw ASGI (bars cut at {RATIO_CAP})", fontsize=10)
    axis.legend(fontsize=7, loc="upper left")


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--rounds", type=int, help="rounds over every app and endpoint (8)")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (4)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--idle-streams", type=int, help="idle SSE streams per server (1000)")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    parser.add_argument(
        "--chart", help="PNG path (docs/bench-core.png; quick runs: bench/results/)"
    )
    parser.add_argument("--no-chart", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true", help="memory only")
    parser.add_argument("--skip-memory", action="store_true", help="throughput only")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 8)
    duration = args.duration or (2.0 if args.quick else 4.0)
    idle_streams = args.idle_streams or (200 if args.quick else 1000)
    frameworks = [f for f in args.frameworks.split(",") if f]
    endpoints = [e for e in args.endpoints.split(",") if e]
    if unknown := set(frameworks) - set(FRAMEWORKS) | set(endpoints) - set(ENDPOINTS):
        raise SystemExit(f"unknown framework or endpoint: {', '.join(sorted(unknown))}")
    for tool, debian_package in (("wrk", "wrk"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (Debian: apt-get install {debian_package})")
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("two CPUs are needed: one for the servers, one for the load generator")

    # This process drives wrk and the idle client: keep it off the servers' CPU.
    os.sched_setaffinity(0, {CLIENT_CPU})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = idle_streams * 2 + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))

    body = echo_body()
    started = dt.datetime.now(dt.UTC)
    results = Results()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ember-bench-") as tmp:
        if not args.skip_throughput:
            results.runs = measure_throughput(
                frameworks, rounds, duration, args.connections, Path(tmp), body, endpoints
            )
        if not args.skip_memory:
            for framework in frameworks:
                # A fresh server each: a heap warmed by wrk's load would hide the growth.
                with serve(framework, Path(tmp)) as fresh:
                    kb = asyncio.run(idle_memory_kb(fresh, idle_streams))
                results.idle_kb[framework] = round(kb, 2)
                print(f"idle SSE {framework:10} {kb:.1f} KB per stream", flush=True)
    load_after = os.getloadavg()

    summary = summarise(results)
    print_table(summary, results.idle_kb)
    if results.runs:
        noise = summary["noise"]
        print(
            f"\nnoise: other processes used {noise['others_cpu0_share_median']:.0%} of CPU 0"
            f" (median; max {noise['others_cpu0_share_max']:.0%}) during the wrk runs"
        )
    table = markdown_table(summary, results.idle_kb)
    verdicts = check_targets(summary, results.idle_kb)
    print("\n".join(verdicts))
    failed = sum(
        m.non_2xx + m.errors for by_e in results.runs.values() for r in by_e.values() for m in r
    )
    if failed:
        print(f"WARNING: {failed} failed requests or socket errors; see the JSON")

    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    record = {
        "started_utc": started.isoformat(timespec="seconds"),
        "command": " ".join(["python", "bench/run.py", *sys.argv[1:]]),
        "settings": {
            "rounds": rounds,
            "duration_s": duration,
            "connections": args.connections,
            "idle_streams": idle_streams,
            "server": "uvicorn --workers 1 --loop uvloop --http httptools, taskset -c 0",
            "client": "wrk -t1, taskset -c 1",
        },
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        **summary,
        "idle_sse_kb_per_stream": results.idle_kb,
        "targets": verdicts,
        "runs": {
            f: {e: [m.__dict__ for m in runs] for e, runs in by_e.items()}
            for f, by_e in results.runs.items()
        },
    }
    # Only a full run is kept by its time and drawn into docs/; the others overwrite
    # one file each, so smoke runs do not pile up.
    partial = args.skip_memory or args.skip_throughput or len(endpoints) < len(ENDPOINTS)
    kind = "quick" if args.quick else "partial" if partial else ""
    out_dir = BENCH_DIR / "results"
    out_dir.mkdir(exist_ok=True)
    paths = [out_dir / f"core-{kind}.json"] if kind else [
        out_dir / f"core-{stamp}.json",
        out_dir / "core-latest.json",
    ]  # fmt: skip
    for path in paths:
        path.write_text(json.dumps(record, indent=2) + "\n")
        path.with_suffix(".md").write_text(table)
    print(f"\nresults: {paths[0]} (and the Markdown table beside it)")
    if not args.no_chart and results.runs:
        default = out_dir / f"core-{kind}.png" if kind else ROOT / "docs" / "bench-core.png"
        chart = Path(args.chart) if args.chart else default
        title = (
            f"{record['machine']['cpu']}, {rounds} round(s) x {duration:g}s, "
            f"{args.connections} connections, {idle_streams} idle streams; {stamp}"
        )
        draw_chart(summary, results.idle_kb, chart, title)
        print(f"chart: {chart}")


if __name__ == "__main__":
    main()
