"""What the benchmarks share: the core benchmark's apps and requests, and
starting the servers they measure (a free port, waiting for it to listen)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
APPS_DIR = BENCH_DIR / "apps"
ROOT = BENCH_DIR.parent

# Framework name → "module:attribute" in bench/apps/. Raw ASGI comes first:
# every ratio is to it.
FRAMEWORKS = {
    "raw-asgi": "raw_asgi:app",
    "starlette": "starlette_app:app",
    "fastapi": "fastapi_app:app",
    "ember": "ember_app:app",
}
BASELINE = "raw-asgi"

ENDPOINTS = ["/json", "/items/{id}", "/echo", "/stream"]
STREAM_EVENTS = 200


def url_path(endpoint: str) -> str:
    """The concrete path requested for an endpoint pattern."""
    return endpoint.replace("{id}", "42")


def asgi_scope(method: str, path: str, body: bytes) -> dict[str, object]:
    """An HTTP scope as uvicorn's httptools protocol builds it (a fresh ``state``
    is the caller's to add per request)."""
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*")]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
    }


def method(endpoint: str) -> str:
    return "POST" if endpoint == "/echo" else "GET"


def echo_body() -> bytes:
    """A 1 KB JSON body shaped like a small chat request."""
    payload = {
        "model": "bench-model",
        "temperature": 0.2,
        "stream": False,
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": ""},
        ],
    }
    filler = 1024 - len(json.dumps(payload, separators=(",", ":")).encode())
    payload["messages"][1]["content"] = "x" * filler  # type: ignore[index]
    body = json.dumps(payload, separators=(",", ":")).encode()
    assert len(body) == 1024, len(body)
    return body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes], what: str, timeout: float = 90) -> None:
    """Return once ``port`` accepts connections; fail if ``process`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s")
