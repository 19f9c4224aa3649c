"""A small pipelined Redis connection: the one round trip per check, made cheap.

Every admission and settlement is one ``EVALSHA``. A general client (redis-py)
spends ~45 µs of CPU per call and a pooled connection per concurrent request;
this connection spends ~10 µs. Concurrent callers share one socket: commands
written in the same event-loop turn go out in one write, and replies, which
Redis sends in order, resolve the callers' futures first-in first-out.

It speaks just what the backend needs (RESP2 replies, ``AUTH``, ``SELECT``,
TLS with ``rediss://``). A connection that fails or times out is dropped with
every call waiting on it, and the next call connects afresh.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
from typing import Any
from urllib.parse import unquote, urlsplit


class RespError(Exception):
    """An error reply from Redis (``-ERR ...``, ``-NOSCRIPT ...``)."""


class RedisAddress:
    """Where and how to connect, parsed from ``redis://[user:password@]host:port/db``."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(f"a Redis URL starts with redis:// or rediss://, got {parts.scheme!r}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        self.tls = parts.scheme == "rediss"
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        path = parts.path.strip("/")
        self.db = int(path) if path.isdigit() else 0

    def __repr__(self) -> str:
        # Never the password.
        return f"{self.host}:{self.port}"


def encode(args: tuple[Any, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def read_reply(reader: asyncio.StreamReader) -> Any:
    line = await reader.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("Redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        return RespError(rest.decode("utf-8", "replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else (await reader.readexactly(size + 2))[:-2]
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [await read_reply(reader) for _ in range(size)]
    raise ConnectionError(f"unexpected reply from Redis: {line[:40]!r}")


class RespConnection:
    """One shared, pipelined connection per event loop."""

    def __init__(self, address: RedisAddress) -> None:
        self.address = address
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._outgoing: list[bytes] = []
        self._connecting: asyncio.Lock | None = None

    async def call(self, *args: Any) -> Any:
        """Send one command; its reply, or ``RespError`` raised for an error reply."""
        loop = asyncio.get_running_loop()
        if self._writer is None or self._loop is not loop:
            await self._connect(loop)
        future: asyncio.Future[Any] = loop.create_future()
        self._waiters.append(future)
        if not self._outgoing:
            loop.call_soon(self._flush)  # everything queued this turn goes in one write
        self._outgoing.append(encode(args))
        reply = await future
        if isinstance(reply, RespError):
            raise reply
        return reply

    def _flush(self) -> None:
        if self._writer is not None and self._outgoing:
            self._writer.write(b"".join(self._outgoing))
        self._outgoing.clear()

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not loop:
            self.drop(ConnectionError("the event loop changed"))
            self._loop, self._connecting = loop, asyncio.Lock()
        assert self._connecting is not None
        async with self._connecting:
            if self._writer is not None:
                return
            context = ssl.create_default_context() if self.address.tls else None
            reader, writer = await asyncio.open_connection(
                self.address.host, self.address.port, ssl=context
            )
            try:
                # The handshake runs before the connection is shared.
                if self.address.password is not None:
                    auth = ["AUTH", self.address.password]
                    if self.address.username:
                        auth.insert(1, self.address.username)
                    await self._handshake(reader, writer, auth)
                if self.address.db:
                    await self._handshake(reader, writer, ["SELECT", self.address.db])
            except BaseException:
                writer.close()
                raise
            self._writer = writer
            self._reader_task = loop.create_task(self._read(reader))

    @staticmethod
    async def _handshake(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, command: list[Any]
    ) -> None:
        writer.write(encode(tuple(command)))
        reply = await read_reply(reader)
        if isinstance(reply, RespError):
            raise ConnectionError(f"Redis refused {command[0]}: {reply}")

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                reply = await read_reply(reader)
                if not self._waiters:
                    raise ConnectionError("a reply nobody asked for")
                future = self._waiters.popleft()
                if not future.done():  # its caller may have timed out
                    future.set_result(reply)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.drop(exc if isinstance(exc, ConnectionError) else ConnectionError(str(exc)))

    def drop(self, reason: BaseException) -> None:
        """Close the connection and fail every call waiting on it."""
        writer, task = self._writer, self._reader_task
        self._writer = self._reader_task = None
        self._outgoing.clear()
        waiters, self._waiters = self._waiters, collections.deque()
        for future in waiters:
            if not future.done():
                future.set_exception(ConnectionError(str(reason) or type(reason).__name__))
        if writer is not None:
            with contextlib.suppress(RuntimeError):  # its event loop may be gone already
                writer.close()
        if task is not None and task is not _current_task():
            task.cancel()

    async def aclose(self) -> None:
        task, writer = self._reader_task, self._writer
        self.drop(ConnectionError("closed"))
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        if writer is not None:
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


__all__ = ["RedisAddress", "RespConnection", "RespError"]
