"""The backend's pipelined Redis connection, against real redis-server processes."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from collections.abc import Iterator

import pytest
import redis
from ember.ratelimit.backends import BackendUnavailable
from ember.ratelimit.backends.redis import RedisBackend
from ember.ratelimit.backends.resp import RedisAddress, RespConnection, RespError
from ember.ratelimit.buckets import Budget
from servers import _port_open, _wait_for, free_port, redis_server_binary


async def test_concurrent_callers_each_get_their_own_reply(redis_url: str, prefix: str) -> None:
    backend = RedisBackend(redis_url, prefix=prefix)
    budgets = [Budget(f"b{i}", 1000, 0, "b") for i in range(300)]
    try:
        verdicts = await asyncio.gather(
            *(backend.reserve([b], i + 1, [], f"l{i}") for i, b in enumerate(budgets))
        )
    finally:
        await backend.aclose()
    assert [v.remaining for v in verdicts] == [1000 - (i + 1) for i in range(300)]


async def test_an_error_reply_is_raised_to_its_caller_only(redis_url: str) -> None:
    connection = RespConnection(RedisAddress(redis_url))
    try:
        good, bad = await asyncio.gather(
            connection.call("PING"), connection.call("NOSUCHCOMMAND"), return_exceptions=True
        )
        assert good == b"PONG"
        assert isinstance(bad, RespError) and "unknown command" in str(bad).lower()
        assert await connection.call("ECHO", "still fine") == b"still fine"
    finally:
        await connection.aclose()


async def test_the_database_in_the_url_is_selected(redis_url: str, prefix: str) -> None:
    backend = RedisBackend(redis_url.rsplit("/", 1)[0] + "/3", prefix=prefix)
    try:
        await backend.reserve([Budget("db", 100, 0, "db")], 10, [], "a")
    finally:
        await backend.aclose()
    db3 = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/3")
    try:
        assert float(db3.hget(prefix + "db", "level") or 0) == 90
    finally:
        db3.close()


@pytest.fixture(scope="module")
def password_redis() -> Iterator[str]:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="ember-redis-auth-")
    process = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir, "--requirepass", "s3cret pass"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_for(lambda: _port_open(port), "redis-server", process)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


async def test_a_password_in_the_url_authenticates(password_redis: str, prefix: str) -> None:
    backend = RedisBackend(f"redis://:s3cret%20pass@{password_redis}/0", prefix=prefix)
    try:
        assert (await backend.reserve([Budget("auth", 100, 0, "auth")], 5, [], "a")).admitted
    finally:
        await backend.aclose()


async def test_a_wrong_password_is_unavailable_without_showing_it(
    password_redis: str, prefix: str
) -> None:
    backend = RedisBackend(f"redis://:wrong-secret@{password_redis}/0", prefix=prefix)
    try:
        with pytest.raises(BackendUnavailable) as caught:
            await backend.reserve([Budget("auth", 100, 0, "auth")], 5, [], "a")
    finally:
        await backend.aclose()
    assert "wrong-secret" not in str(caught.value)


def test_a_url_of_another_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="redis://"):
        RedisBackend("http://127.0.0.1:6379")
