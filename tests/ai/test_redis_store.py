"""RedisSessionStore against a real redis-server: restarts, processes, concurrency."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from ember import Ember, Request
from ember.ai import ConversationContext, Message, MessageRole
from ember.ai.sessions import SessionBusy
from ember.ai.sessions.redis import RedisSessionStore
from servers import uvicorn_server

HERE = Path(__file__).resolve().parent


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


def client(app: Ember) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def chat_app(store: RedisSessionStore) -> Ember:
    app = Ember(session_store=store)

    @app.ai_route("/chat")
    async def chat(request: Request, context: ConversationContext) -> dict[str, object]:
        context.add_message(MessageRole.USER, (await request.json())["message"])
        return {"history": [m.content for m in context.get_messages()]}

    return app


async def test_history_survives_an_app_restart(redis_url: str, prefix: str) -> None:
    first_store = RedisSessionStore(redis_url, prefix=prefix)
    async with client(chat_app(first_store)) as c:
        session = (await c.post("/chat", json={"message": "before"})).headers["x-session-id"]
    await first_store.close()

    second_store = RedisSessionStore(redis_url, prefix=prefix)
    try:
        async with client(chat_app(second_store)) as c:
            after = await c.post(
                "/chat", json={"message": "after"}, headers={"X-Session-ID": session}
            )
    finally:
        await second_store.close()
    assert after.json() == {"history": ["before", "after"]}
    assert after.headers["x-session-id"] == session


def test_two_app_processes_share_one_session(redis_url: str, prefix: str) -> None:
    env = {"EMBER_TEST_REDIS": redis_url, "EMBER_TEST_PREFIX": prefix}
    with (
        uvicorn_server("chat_server_app:app", app_dir=HERE, env=env) as one,
        uvicorn_server("chat_server_app:app", app_dir=HERE, env=env) as two,
    ):
        first = httpx.post(f"{one}/chat", json={"message": "to one"}, timeout=10)
        session = first.headers["x-session-id"]
        second = httpx.post(
            f"{two}/chat", json={"message": "to two"}, headers={"X-Session-ID": session}, timeout=10
        )
    assert first.json()["pid"] != second.json()["pid"]
    assert second.json()["history"] == ["to one", "to two"]


async def test_fifty_concurrent_requests_to_one_session_lose_no_message(
    redis_url: str, prefix: str
) -> None:
    store = RedisSessionStore(redis_url, prefix=prefix)
    try:
        async with client(chat_app(store)) as c:
            session = (await c.post("/chat", json={"message": "start"})).headers["x-session-id"]
            responses = await asyncio.gather(
                *(
                    c.post("/chat", json={"message": f"m{i}"}, headers={"X-Session-ID": session})
                    for i in range(50)
                )
            )
        history = await store.load(session)
    finally:
        await store.close()
    assert all(r.status_code == 200 for r in responses)
    assert history is not None
    assert sorted(m.content for m in history) == sorted(["start", *(f"m{i}" for i in range(50))])


async def test_unknown_and_expired_sessions_are_none(redis_url: str, prefix: str) -> None:
    store = RedisSessionStore(redis_url, prefix=prefix, ttl=0.2)
    try:
        assert await store.load("nope") is None
        await store.create("s")
        await store.save("s", [Message(MessageRole.USER, "x")], replace=False)
        assert [m.content for m in await store.load("s") or []] == ["x"]
        await asyncio.sleep(0.35)
        assert not await store.exists("s")
        assert await store.load("s") is None
    finally:
        await store.close()


async def test_the_redis_lock_serializes_holders_across_clients(
    redis_url: str, prefix: str
) -> None:
    one = RedisSessionStore(redis_url, prefix=prefix)
    two = RedisSessionStore(redis_url, prefix=prefix)
    try:
        lease = await one.acquire("s", 1)
        with pytest.raises(SessionBusy):
            await two.acquire("s", 0.05)
        await lease.release()
        again = await two.acquire("s", 1)
        await again.release()
    finally:
        await one.close()
        await two.close()


async def test_a_held_lock_is_extended_beyond_its_ttl(redis_url: str, prefix: str) -> None:
    store = RedisSessionStore(redis_url, prefix=prefix, lock_ttl=0.3)
    other = RedisSessionStore(redis_url, prefix=prefix, lock_ttl=0.3)
    try:
        lease = await store.acquire("s", 1)
        await asyncio.sleep(0.6)  # twice the TTL: only the keeper keeps it held
        with pytest.raises(SessionBusy):
            await other.acquire("s", 0.05)
        await lease.release()
    finally:
        await store.close()
        await other.close()


async def test_concurrent_requests_through_two_processes_lose_no_message(
    redis_url: str, prefix: str
) -> None:
    env = {"EMBER_TEST_REDIS": redis_url, "EMBER_TEST_PREFIX": prefix}
    with (
        uvicorn_server("chat_server_app:app", app_dir=HERE, env=env) as one,
        uvicorn_server("chat_server_app:app", app_dir=HERE, env=env) as two,
    ):
        async with httpx.AsyncClient(timeout=30) as c:
            first = await c.post(f"{one}/chat", json={"message": "start"})
            session = first.headers["x-session-id"]
            responses = await asyncio.gather(
                *(
                    c.post(
                        f"{(one, two)[i % 2]}/chat",
                        json={"message": f"m{i}"},
                        headers={"X-Session-ID": session},
                    )
                    for i in range(50)
                )
            )
            history = await c.get(f"{two}/history", headers={"X-Session-ID": session})
    assert all(r.status_code == 200 for r in responses)
    assert len({r.json()["pid"] for r in responses}) == 2
    assert sorted(history.json()) == sorted(["user:start", *(f"user:m{i}" for i in range(50))])
