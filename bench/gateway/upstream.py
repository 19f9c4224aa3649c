"""A fast fake OpenAI upstream for the gateway benchmark.

Raw asyncio protocol on uvloop, HTTP/1.1 keep-alive, precomputed answers: it
costs the gateways in front of it as little as possible, so what they add is
what is measured. ``POST .../chat/completions`` answers a whole completion, or,
with ``"stream": true``, a 100-chunk stream (tokens ``w0 `` .. ``w99 ``)
followed by the usage chunk and ``[DONE]``. ``GET .../models`` lists one model.

Run: python upstream.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

import uvloop

CHUNKS = 100
MODEL = "bench-model"


def _event(data: object) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def _http(status: str, headers: list[str], body: bytes) -> bytes:
    head = [f"HTTP/1.1 {status}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _whole() -> bytes:
    body = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1764000000,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "logprobs": None,
                    "message": {
                        "role": "assistant",
                        "content": "Hello from the upstream.",
                        "refusal": None,
                    },
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        }
    ).encode()
    return _http("200 OK", ["content-type: application/json", f"content-length: {len(body)}"], body)


def _stream() -> bytes:
    base = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1764000000,
        "model": MODEL,
    }
    events = [
        _event(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ],
            }
        )
    ]
    events += [
        _event(
            {
                **base,
                "choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}],
            }
        )
        for i in range(CHUNKS)
    ]
    events.append(_event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    events.append(
        _event(
            {
                **base,
                "choices": [],
                "usage": {
                    "prompt_tokens": 12,
                    "completion_tokens": CHUNKS,
                    "total_tokens": 12 + CHUNKS,
                },
            }
        )
    )
    events.append(b"data: [DONE]\n\n")
    body = b"".join(f"{len(e):x}\r\n".encode() + e + b"\r\n" for e in events) + b"0\r\n\r\n"
    return _http(
        "200 OK",
        [
            "content-type: text/event-stream",
            "cache-control: no-cache",
            "transfer-encoding: chunked",
        ],
        body,
    )


def _models() -> bytes:
    body = json.dumps(
        {
            "object": "list",
            "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "bench"}],
        }
    ).encode()
    return _http("200 OK", ["content-type: application/json", f"content-length: {len(body)}"], body)


WHOLE, STREAM, MODELS = _whole(), _stream(), _models()


class Upstream(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            if head.startswith("GET"):
                reply = MODELS
            elif b'"stream":true' in body.replace(b" ", b""):
                reply = STREAM
            else:
                reply = WHOLE
            self.transport.write(reply)  # type: ignore[attr-defined]


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(
        Upstream, "127.0.0.1", port, backlog=4096
    )
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
