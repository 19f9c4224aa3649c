"""Gateway benchmark: what Ember, LiteLLM's proxy and Portkey's gateway add in
front of the same fake OpenAI upstream, measured in one run.

- Added latency: sequential requests on one keep-alive connection; per round
  the median, over rounds the median of those ("median of round medians");
  minus the same measure with the client calling the upstream directly. For
  a whole answer, for the first content chunk of a 100-chunk stream, and for
  its last byte.
- Throughput: wrk against each gateway, the gateway pinned to one core
  (taskset), for whole answers and for 100-chunk streams.

The upstream and the clients share the other core. Run ``setup_peers.sh``
first to compare with LiteLLM and Portkey (they are skipped when absent).

    python bench/gateway/run.py            # full run (~5 min)
    python bench/gateway/run.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common import free_port, wait_port  # noqa: E402  (bench/common.py)

PEERS = HERE / ".peers"
RESULTS = HERE / "results"
GATEWAY_CORE, CLIENT_CORE = "1", "0"
MASTER_KEY = "sk-bench-master"
BODY = {"model": "bench-model", "messages": [{"role": "user", "content": "Say hello."}]}
FIRST_TOKEN = b"w0 "


@contextmanager
def process(
    command: list[str],
    port: int,
    what: str,
    core: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[None]:
    log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in the finally below)
    proc = subprocess.Popen(
        ["taskset", "-c", core, *command],
        stdout=log,
        stderr=log,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    try:
        wait_port(port, proc, what)
        yield
    except Exception:
        log.seek(0)
        sys.stderr.write(log.read().decode(errors="replace")[-3000:])
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@dataclass
class Target:
    name: str
    port: int
    path: str = "/v1/chat/completions"
    headers: dict[str, str] = field(default_factory=dict)


class Connection:
    """A minimal keep-alive HTTP/1.1 client: the same small cost for every target."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.sock = socket.create_connection(("127.0.0.1", target.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(self, stream: bool) -> tuple[float, float]:
        """Seconds to the first content chunk (a stream's first token) and to the last byte."""
        body = json.dumps({**BODY, "stream": stream}).encode()
        head = [
            f"POST {self.target.path} HTTP/1.1",
            f"host: 127.0.0.1:{self.target.port}",
            "content-type: application/json",
            f"content-length: {len(body)}",
            *(f"{k}: {v}" for k, v in self.target.headers.items()),
        ]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        began = time.perf_counter()
        self.sock.sendall(raw)
        buffer = bytearray()
        first = None
        header_end = -1
        length = None
        while True:
            data = self.sock.recv(262144)
            if not data:
                raise RuntimeError(f"{self.target.name} closed the connection")
            buffer += data
            if header_end < 0:
                header_end = buffer.find(b"\r\n\r\n")
                if header_end >= 0:
                    headers = bytes(buffer[:header_end]).decode("latin-1").lower()
                    if not headers.startswith("http/1.1 200"):
                        raise RuntimeError(f"{self.target.name}: {bytes(buffer[:300])!r}")
                    for line in headers.split("\r\n"):
                        if line.startswith("content-length:"):
                            length = int(line.split(":")[1])
            if header_end < 0:
                continue
            if first is None and (not stream or FIRST_TOKEN in buffer[header_end:]):
                first = time.perf_counter()
            if length is not None and len(buffer) >= header_end + 4 + length:
                break
            if length is None and buffer.endswith(b"0\r\n\r\n"):
                break
        end = time.perf_counter()
        assert first is not None
        return first - began, end - began

    def close(self) -> None:
        self.sock.close()


def median_of_round_medians(samples: Callable[[], float], rounds: int, per_round: int) -> float:
    medians = []
    for _ in range(rounds):
        medians.append(statistics.median(samples() for _ in range(per_round)))
    return statistics.median(medians) * 1000


def latencies(target: Target, rounds: int, per_round: int) -> dict[str, float]:
    conn = Connection(target)
    try:
        for _ in range(50):  # warm-up: connections, caches, JITs
            conn.request(False)
            conn.request(True)
        return {
            "whole_ms": median_of_round_medians(lambda: conn.request(False)[1], rounds, per_round),
            "first_chunk_ms": median_of_round_medians(
                lambda: conn.request(True)[0], rounds, per_round
            ),
            "last_byte_ms": median_of_round_medians(
                lambda: conn.request(True)[1], rounds, per_round
            ),
        }
    finally:
        conn.close()


def wrk(target: Target, stream: bool, seconds: int, connections: int) -> float:
    body = json.dumps({**BODY, "stream": stream})
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = [[{body}]]",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in target.headers.items()]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        output = subprocess.run(
            [
                "taskset",
                "-c",
                CLIENT_CORE,
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "30s",
                "-s",
                script.name,
                f"http://127.0.0.1:{target.port}{target.path}",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(script.name)
    errors = [line for line in output.splitlines() if "Non-2xx" in line or "Socket errors" in line]
    if errors:
        print(f"  wrk {target.name}: {'; '.join(errors)}", file=sys.stderr)
    rate = [line for line in output.splitlines() if line.startswith("Requests/sec")]
    return float(rate[0].split()[1])


# -- the targets -------------------------------------------------------------


@contextmanager
def ember(upstream: str, transport: str = "httpx") -> Iterator[Target]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "ember_gateway:app",
        "--port",
        str(port),
        "--app-dir",
        str(HERE),
        "--log-level",
        "warning",
        "--no-access-log",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
    ]
    env = {"UPSTREAM_URL": upstream, "EMBER_TRANSPORT": transport}
    with process(command, port, "ember", GATEWAY_CORE, env):
        yield Target(f"ember ({transport} transport)", port)


@contextmanager
def litellm(upstream: str) -> Iterator[Target]:
    port = free_port()
    config = HERE / ".peers" / "litellm_config.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: bench-model\n"
        "    litellm_params:\n"
        "      model: openai/bench-model\n"
        f"      api_base: {upstream}/v1\n"
        "      api_key: sk-upstream\n"
        "general_settings:\n"
        f"  master_key: {MASTER_KEY}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )
    env = {
        name: "True"
        for name in (
            "LITELLM_LOCAL_MODEL_COST_MAP",
            "LITELLM_LOCAL_POLICY_TEMPLATES",
            "LITELLM_LOCAL_BLOG_POSTS",
            "LITELLM_LOCAL_AUTOROUTER_PRESETS",
            "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS",
        )
    }
    env["LITELLM_LOG"] = "ERROR"
    command = [
        str(PEERS / "litellm" / "bin" / "litellm"),
        "--config",
        str(config),
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    with process(command, port, "litellm", GATEWAY_CORE, env):
        yield Target("litellm", port, headers={"Authorization": f"Bearer {MASTER_KEY}"})


@contextmanager
def portkey(upstream: str) -> Iterator[Target]:
    port = free_port()
    start = (
        PEERS / "portkey" / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    )
    command = ["node", str(start), f"--port={port}", "--headless"]
    with process(command, port, "portkey", GATEWAY_CORE, cwd=PEERS / "portkey"):
        yield Target(
            "portkey",
            port,
            headers={
                "x-portkey-provider": "openai",
                "x-portkey-custom-host": f"{upstream}/v1",
                "Authorization": "Bearer sk-upstream",
            },
        )


@contextmanager
def direct(upstream_port: int) -> Iterator[Target]:
    yield Target("upstream (direct)", upstream_port)


def available() -> dict[str, bool]:
    return {
        "litellm": (PEERS / "litellm" / "bin" / "litellm").exists(),
        "portkey": (PEERS / "portkey" / "node_modules" / "@portkey-ai" / "gateway").exists()
        and shutil.which("node") is not None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter loads")
    parser.add_argument("--only", default="", help="comma-separated targets (ember,litellm,...)")
    args = parser.parse_args()
    rounds, per_round, seconds = (3, 50, 3) if args.quick else (7, 200, 10)
    wanted = set(filter(None, args.only.split(",")))
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    results: dict[str, dict[str, float]] = {}
    have = available()
    makers: list[tuple[str, Callable[[], object]]] = [
        ("direct", lambda: direct(up_port)),
        ("ember", lambda: ember(upstream, "aiohttp")),
        ("ember-httpx", lambda: ember(upstream, "httpx")),
    ]
    if have["litellm"]:
        makers.append(("litellm", lambda: litellm(upstream)))
    if have["portkey"]:
        makers.append(("portkey", lambda: portkey(upstream)))
    with process(
        [sys.executable, str(HERE / "upstream.py"), str(up_port)], up_port, "upstream", CLIENT_CORE
    ):
        for name, make in makers:
            if wanted and not any(name.startswith(w) for w in wanted) and name != "direct":
                continue
            print(f"measuring {name}...", file=sys.stderr)
            with make() as target:  # type: ignore[attr-defined]
                result = latencies(target, rounds, per_round)
                result["whole_rps"] = wrk(target, False, seconds, 32)
                result["stream_rps"] = wrk(target, True, seconds, 16)
                results[target.name] = result
                print(f"  {json.dumps(result)}", file=sys.stderr)
    base = results["upstream (direct)"]
    for name, result in results.items():
        if name != "upstream (direct)":
            for key in ("whole_ms", "first_chunk_ms", "last_byte_ms"):
                result["added_" + key] = result[key] - base[key]
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "settings": {
            "rounds": rounds,
            "per_round": per_round,
            "load_seconds": seconds,
            "stream_chunks": 100,
        },
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    name = "gateway-quick.json" if args.quick else "gateway.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))


def table(report: dict[str, object]) -> str:
    results = report["results"]
    assert isinstance(results, dict)
    rows = [
        "| target | added, whole answer | added, first chunk | added, last byte (100 chunks) "
        "| whole answers/s | streams/s |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if name == "upstream (direct)":
            rows.append(
                f"| upstream alone | {r['whole_ms']:.2f} ms (absolute) | "
                f"{r['first_chunk_ms']:.2f} ms (absolute) | {r['last_byte_ms']:.2f} ms "
                f"(absolute) | {r['whole_rps']:.0f} | {r['stream_rps']:.0f} |"
            )
        else:
            rows.append(
                f"| {name} | {r['added_whole_ms']:+.2f} ms | "
                f"{r['added_first_chunk_ms']:+.2f} ms | {r['added_last_byte_ms']:+.2f} ms"
                f" | {r['whole_rps']:.0f} | {r['stream_rps']:.0f} |"
            )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
