"""Fake OpenAI and Anthropic servers: real HTTP/1.1 on 127.0.0.1, scripted replies.

A ``FakeLLM`` runs an asyncio server in a background thread (so sync clients,
like the official ``openai`` package, can use it too). Each request's reply is
chosen by the ``model`` in its JSON body from what the test scripted with
``fake.script(model, Reply(...), ...)``: replies are used in order and the
last one repeats. Streams are sent with chunked transfer encoding, one SSE
event per chunk, so a connection cut mid-stream is a real protocol error for
the client. The server records every request and every stream whose client
went away before the end (``fake.disconnects``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def transcript(name: str) -> list[bytes]:
    """The events of a recorded stream (``anthropic/tool_use_response.sse``)."""
    text = (FIXTURES / name).read_text()
    return [event.strip("\n").encode() + b"\n\n" for event in text.split("\n\n") if event.strip()]


def openai_text_events(pieces: list[str], usage: tuple[int, int] = (10, 5)) -> list[bytes]:
    """An OpenAI text stream saying ``pieces``, in the shape of ``openai/text.sse``."""
    base = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1764000000,
        "model": "fake",
    }

    def event(choices: list[Any], usage_value: Any = None) -> bytes:
        return (
            b"data: "
            + json.dumps({**base, "choices": choices, "usage": usage_value}).encode()
            + b"\n\n"
        )

    events = [
        event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    ]
    events += [
        event([{"index": 0, "delta": {"content": p}, "finish_reason": None}]) for p in pieces
    ]
    events.append(event([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    prompt, completion = usage
    events.append(
        event(
            [],
            {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        )
    )
    events.append(b"data: [DONE]\n\n")
    return events


def openai_error(
    status: int,
    message: str,
    code: str,
    type_: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
) -> Reply:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return Reply(status=status, body=json.dumps(body).encode(), headers=headers or {})


def anthropic_error(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> Reply:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return Reply(status=status, body=json.dumps(body).encode(), headers=headers or {})


@dataclass
class Reply:
    """What the fake answers. With ``events`` the answer is an SSE stream."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds before a whole (non-stream) reply
    events: list[bytes] | None = None
    event_delay: float = 0.0  # seconds between events
    stall_after: int | None = None  # after this many events, stall...
    stall: float = 0.0  # ...this long
    cut_after: int | None = None  # after this many events, drop the connection


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    client_port: int = 0  # the same for requests sent on one (pooled) connection


class FakeLLM:
    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = {}
        self.requests: list[Recorded] = []
        self.disconnects: list[str] = []
        self.completed: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    # -- scripting ----------------------------------------------------------

    def script(self, model: str, *replies: Reply) -> None:
        self.scripts[model] = list(replies)

    def _reply_for(self, model: str) -> Reply:
        replies = self.scripts.get(model)
        if not replies:
            body = {
                "error": {
                    "message": f"no script for model {model!r}",
                    "type": "test",
                    "param": None,
                    "code": "model_not_found",
                }
            }
            return Reply(status=404, body=json.dumps(body).encode())
        return replies.pop(0) if len(replies) > 1 else replies[0]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests_for(self, model: str) -> list[Recorded]:
        return [
            r for r in self.requests if isinstance(r.body, dict) and r.body.get("model") == model
        ]

    def wait_for_disconnect(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.disconnects:
                return True
            time.sleep(0.01)
        return False

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> FakeLLM:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        )
        self._server = future.result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    # -- HTTP -----------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        line = await reader.readline()
        if not line:
            return False
        method, path, _ = line.decode().split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            header = await reader.readline()
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        port = writer.get_extra_info("peername")[1]
        self.requests.append(Recorded(method, path, headers, body, port))
        if path.endswith("/models") and method == "GET":
            data = {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                    for m in self.scripts
                ],
            }
            await self._send_whole(writer, Reply(body=json.dumps(data).encode()))
            return True
        model = body.get("model", "") if isinstance(body, dict) else ""
        reply = self._reply_for(model)
        if reply.events is None:
            await self._send_whole(writer, reply)
            return True
        return await self._send_stream(reader, writer, reply, model)

    async def _send_whole(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        head = [
            f"HTTP/1.1 {reply.status} X",
            f"content-length: {len(reply.body)}",
            "content-type: application/json",
        ]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + reply.body)
        await writer.drain()

    async def _send_stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: Reply, model: str
    ) -> bool:
        head = [
            f"HTTP/1.1 {reply.status} OK",
            "content-type: text/event-stream",
            "transfer-encoding: chunked",
            "cache-control: no-cache",
        ]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        # The client sends nothing more until this response ends, so any read
        # completing now is EOF: the client went away.
        gone = asyncio.ensure_future(reader.read(1))
        try:
            assert reply.events is not None
            for number, event in enumerate(reply.events):
                if reply.cut_after is not None and number == reply.cut_after:
                    writer.transport.abort()
                    return False
                pause = reply.event_delay
                if reply.stall_after is not None and number == reply.stall_after:
                    pause += reply.stall
                if pause:
                    await asyncio.wait({gone}, timeout=pause)
                if gone.done():
                    self.disconnects.append(model)
                    return False
                writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            self.completed.append(model)
            return True
        except ConnectionError:
            self.disconnects.append(model)
            return False
        finally:
            gone.cancel()
            # Let the cancelled read finish before the next request is read.
            await asyncio.gather(gone, return_exceptions=True)


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """A running fake LLM server (OpenAI and Anthropic paths alike)."""
    fake = FakeLLM().start()
    try:
        yield fake
    finally:
        fake.stop()
