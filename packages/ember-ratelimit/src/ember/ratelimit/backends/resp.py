"""A small pipelined Redis connection: the one round trip per check, made cheap.

Every admission and settlement is one ``EVALSHA``. A general client (redis-py)
spends ~45 µs of CPU per call and a pooled connection per concurrent request;
this connection spends a fraction of that. Concurrent callers share one
socket: commands issued in the same event-loop turn go out in one write, and
the replies, which Redis sends in order, are parsed straight from the
received bytes and handed to the callers first-in first-out.

It speaks just what the backend needs (RESP2 replies, ``AUTH``, ``SELECT``,
TLS with ``rediss://``). A connection that fails or times out is dropped with
every call waiting on it, and the next call connects afresh.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
from typing import Any, cast
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


def bulk(value: Any) -> bytes:
    """One argument of a command, as RESP sends it."""
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def encode(args: tuple[Any, ...]) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(map(bulk, args))


class Incomplete(Exception):
    """The buffer ends before the reply does: wait for more bytes."""


def parse(buffer: bytearray, position: int) -> tuple[Any, int]:
    """One reply from ``buffer`` at ``position``: ``(value, position after it)``.

    Error replies are returned as ``RespError`` values, not raised, so that a
    pipelined caller gets its own error. Raises ``Incomplete`` if the reply
    is not all there yet.
    """
    end = buffer.find(b"\r\n", position)
    if end < 0:
        raise Incomplete
    kind = buffer[position]
    line = bytes(buffer[position + 1 : end])
    position = end + 2
    if kind == 0x24:  # $ bulk string
        size = int(line)
        if size < 0:
            return None, position
        if len(buffer) < position + size + 2:
            raise Incomplete
        return bytes(buffer[position : position + size]), position + size + 2
    if kind == 0x2A:  # * array
        size = int(line)
        if size < 0:
            return None, position
        items: list[Any] = []
        for _ in range(size):
            # The scripts' replies are arrays of bulk strings and integers:
            # those are read here, anything else by recursion.
            end = buffer.find(b"\r\n", position)
            if end < 0:
                raise Incomplete
            kind = buffer[position]
            if kind == 0x3A:  # : integer
                items.append(int(buffer[position + 1 : end]))
                position = end + 2
            elif kind == 0x24 and buffer[position + 1] != 0x2D:  # $ bulk string, not $-1
                start = end + 2
                stop = start + int(buffer[position + 1 : end])
                if len(buffer) < stop + 2:
                    raise Incomplete
                items.append(bytes(buffer[start:stop]))
                position = stop + 2
            else:
                item, position = parse(buffer, position)
                items.append(item)
        return items, position
    if kind == 0x3A:  # : integer
        return int(line), position
    if kind == 0x2B:  # + simple string
        return line, position
    if kind == 0x2D:  # - error
        return RespError(line.decode("utf-8", "replace")), position
    raise ConnectionError(f"unexpected reply from Redis: {bytes(buffer[:40])!r}")


class _Protocol(asyncio.Protocol):
    """Parses replies as bytes arrive and hands each to the oldest waiting call."""

    def __init__(self, connection: RespConnection) -> None:
        self.connection = connection
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        position = 0
        try:
            while position < len(buffer):
                reply, position_after = parse(buffer, position)
                position = position_after
                self.connection.deliver(self, reply)
        except Incomplete:
            pass
        except (ConnectionError, ValueError) as exc:
            self.connection.drop(ConnectionError(f"bad reply from Redis: {exc}"), self)
            return
        del buffer[:position]

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection.drop(
            ConnectionError(str(exc) if exc else "Redis closed the connection"), self
        )


class RespConnection:
    """One shared, pipelined connection per event loop.

    With a ``timeout`` (seconds), connecting and every reply are bounded: a
    reply that is late drops the connection, failing every call waiting on it
    with ``TimeoutError``. Replies come in order, so one timer watching the
    oldest call is enough -- no timer per call.
    """

    def __init__(self, address: RedisAddress, timeout: float | None = None) -> None:
        self.address = address
        self.timeout = timeout
        self._protocol: _Protocol | None = None
        self._ready = False  # connected and handshaken: shared with every caller
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._deadlines: collections.deque[float] = collections.deque()  # of the waiters
        self._watchdog: asyncio.TimerHandle | None = None
        self._outgoing: list[bytes] = []
        self._connecting: asyncio.Lock | None = None

    async def call(self, *args: Any) -> Any:
        """Send one command; its reply, or ``RespError`` raised for an error reply."""
        return await self.call_encoded(encode(args))

    async def call_encoded(self, command: bytes) -> Any:
        """``call`` for a command already encoded (see ``encode`` and ``bulk``)."""
        loop = asyncio.get_running_loop()
        if not self._ready or self._loop is not loop:
            if self.timeout is None:
                await self._connect(loop)
            else:
                async with asyncio.timeout(self.timeout):
                    await self._connect(loop)
        reply = await self._send(loop, command)
        if isinstance(reply, RespError):
            raise reply
        return reply

    def _send(self, loop: asyncio.AbstractEventLoop, command: bytes) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = loop.create_future()
        self._waiters.append(future)
        if self.timeout is not None:
            self._deadlines.append(loop.time() + self.timeout)
            if self._watchdog is None:
                self._watchdog = loop.call_at(self._deadlines[0], self._watch)
        if not self._outgoing:
            loop.call_soon(self._flush)  # everything queued this turn goes in one write
        self._outgoing.append(command)
        return future

    def _watch(self) -> None:
        """The oldest call's deadline came: fail everything if it is still waiting."""
        self._watchdog = None
        if not self._deadlines or self._loop is None:
            return
        if self._deadlines[0] <= self._loop.time():
            # A slow Redis would answer later, out of turn: start afresh.
            self.drop(TimeoutError(f"Redis at {self.address!r} did not answer in time"))
            return
        self._watchdog = self._loop.call_at(self._deadlines[0], self._watch)

    def _flush(self) -> None:
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None and self._outgoing:
            protocol.transport.write(b"".join(self._outgoing))
        self._outgoing.clear()

    def deliver(self, protocol: _Protocol, reply: Any) -> None:
        if protocol is not self._protocol:
            return  # a reply on a connection already dropped
        if not self._waiters:
            self.drop(ConnectionError("Redis sent a reply nobody asked for"), protocol)
            return
        future = self._waiters.popleft()
        if self.timeout is not None:
            self._deadlines.popleft()
        if not future.done():  # its caller may have given up
            future.set_result(reply)

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not loop:
            self.drop(ConnectionError("the event loop changed"))
            self._loop, self._connecting = loop, asyncio.Lock()
        assert self._connecting is not None
        async with self._connecting:
            if self._ready:
                return
            context = ssl.create_default_context() if self.address.tls else None
            _, protocol = await loop.create_connection(
                lambda: _Protocol(self), self.address.host, self.address.port, ssl=context
            )
            self._protocol = protocol
            try:
                # The handshake runs before any caller's command is sent.
                if self.address.password is not None:
                    auth: list[Any] = ["AUTH", self.address.password]
                    if self.address.username:
                        auth.insert(1, self.address.username)
                    await self._handshake(loop, auth)
                if self.address.db:
                    await self._handshake(loop, ["SELECT", self.address.db])
            except BaseException:
                self.drop(ConnectionError("the handshake failed"))
                raise
            self._ready = True

    async def _handshake(self, loop: asyncio.AbstractEventLoop, command: list[Any]) -> None:
        reply = await self._send(loop, encode(tuple(command)))
        if isinstance(reply, RespError):
            raise ConnectionError(f"Redis refused {command[0]}: {reply}")

    def drop(self, reason: BaseException, protocol: _Protocol | None = None) -> None:
        """Close the connection and fail every call waiting on it."""
        if protocol is not None and protocol is not self._protocol:
            return  # an old connection's last words
        current, self._protocol, self._ready = self._protocol, None, False
        self._outgoing.clear()
        waiters, self._waiters = self._waiters, collections.deque()
        self._deadlines.clear()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        for future in waiters:
            if not future.done():
                if isinstance(reason, TimeoutError):
                    future.set_exception(TimeoutError(str(reason)))
                else:
                    future.set_exception(ConnectionError(str(reason) or type(reason).__name__))
        if current is not None and current.transport is not None:
            with contextlib.suppress(RuntimeError):  # its event loop may be gone already
                current.transport.close()

    async def aclose(self) -> None:
        self.drop(ConnectionError("closed"))
        await asyncio.sleep(0)  # let the transport finish closing


__all__ = ["RedisAddress", "RespConnection", "RespError", "bulk", "encode"]
