"""Session ids: issued by the server, never another session's history."""

from __future__ import annotations

import asyncio

import httpx
from ember import Ember, Request, hookimpl
from ember.ai import ConversationContext, MessageRole
from ember.ai.routes import session_store
from ember.ai.sessions import MemorySessionStore, is_session_id, new_session_id, store_key


def client(app: Ember) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def chat_app(**options: object) -> Ember:
    app = Ember(**options)

    @app.ai_route("/chat")
    async def chat(request: Request, context: ConversationContext) -> dict[str, object]:
        context.add_message(MessageRole.USER, (await request.json())["message"])
        return {"history": [m.content for m in context.get_messages()]}

    return app


def test_ids_are_128_random_bits_in_hex() -> None:
    ids = {new_session_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 and is_session_id(i) for i in ids)


async def test_the_apps_own_empty_memory_store_is_the_one_used_with_its_bounds() -> None:
    store = MemorySessionStore(max_sessions=2)
    app = chat_app(session_store=store)
    async with client(app) as c:
        for message in "abcde":
            await c.post("/chat", json={"message": message})
    assert session_store(app) is store
    assert len(store) == 2  # its bound holds: five sessions came, the newest two stay


async def test_a_request_without_an_id_gets_a_fresh_session_and_its_id() -> None:
    app = chat_app()
    async with client(app) as c:
        first = await c.post("/chat", json={"message": "a"})
        second = await c.post("/chat", json={"message": "b"})
    assert first.json() == {"history": ["a"]}
    assert second.json() == {"history": ["b"]}
    assert first.headers["x-session-id"] != second.headers["x-session-id"]


async def test_an_unknown_well_formed_id_gets_a_fresh_session_with_a_new_id() -> None:
    app = chat_app()
    unknown = new_session_id()
    async with client(app) as c:
        response = await c.post("/chat", json={"message": "a"}, headers={"X-Session-ID": unknown})
    assert response.headers["x-session-id"] != unknown
    assert response.json() == {"history": ["a"]}


async def test_a_forged_id_never_reaches_another_sessions_history() -> None:
    app = chat_app()
    async with client(app) as c:
        victim = (await c.post("/chat", json={"message": "secret"})).headers["x-session-id"]
        forged = victim[:-1] + ("0" if victim[-1] != "0" else "1")
        response = await c.post("/chat", json={"message": "x"}, headers={"X-Session-ID": forged})
    assert response.json() == {"history": ["x"]}
    assert response.headers["x-session-id"] not in (victim, forged)


async def test_a_malformed_id_gets_a_fresh_session() -> None:
    app = chat_app()
    async with client(app) as c:
        response = await c.post(
            "/chat", json={"message": "a"}, headers={"X-Session-ID": "../../etc/passwd"}
        )
    assert is_session_id(response.headers["x-session-id"])
    assert response.json() == {"history": ["a"]}


class HeaderPrincipal:
    """Identifies the caller by its Authorization header, as an auth plugin would."""

    @hookimpl
    def ember_ai_principal(self, app: Ember):  # type: ignore[no-untyped-def]
        return lambda request: request.headers.get("authorization")


async def test_hook_ember_ai_principal_makes_a_session_id_useless_to_others() -> None:
    app = chat_app(plugins=[HeaderPrincipal()])
    alice = {"Authorization": "Bearer alice-key"}
    async with client(app) as c:
        session = (await c.post("/chat", json={"message": "mine"}, headers=alice)).headers[
            "x-session-id"
        ]
        stolen = await c.post(
            "/chat",
            json={"message": "hi"},
            headers={"Authorization": "Bearer mallory-key", "X-Session-ID": session},
        )
        own = await c.post(
            "/chat", json={"message": "again"}, headers={**alice, "X-Session-ID": session}
        )
    assert stolen.json() == {"history": ["hi"]}
    assert stolen.headers["x-session-id"] != session
    assert own.json() == {"history": ["mine", "again"]}


def test_the_store_key_hashes_the_principal() -> None:
    key = store_key("a" * 32, "sk-secret-key")
    assert "sk-secret" not in key
    assert key.endswith(":" + "a" * 32)
    assert store_key("a" * 32, None) == "a" * 32


async def test_fifty_concurrent_requests_to_one_session_lose_no_message() -> None:
    app = chat_app()
    async with client(app) as c:
        session = (await c.post("/chat", json={"message": "start"})).headers["x-session-id"]
        await asyncio.gather(
            *(
                c.post("/chat", json={"message": f"m{i}"}, headers={"X-Session-ID": session})
                for i in range(50)
            )
        )
    history = await session_store(app).load(session)
    assert history is not None
    assert sorted(m.content for m in history) == sorted(["start", *(f"m{i}" for i in range(50))])


async def test_turns_of_one_session_never_interleave() -> None:
    app = Ember()

    @app.ai_route("/slow")
    async def slow(request: Request, context: ConversationContext) -> None:
        tag = (await request.json())["tag"]
        context.add_message(MessageRole.USER, f"{tag}-question")
        await asyncio.sleep(0.01)
        context.add_message(MessageRole.ASSISTANT, f"{tag}-answer")

    async with client(app) as c:
        session = (await c.post("/slow", json={"tag": "t0"})).headers["x-session-id"]
        await asyncio.gather(
            *(
                c.post("/slow", json={"tag": f"t{i}"}, headers={"X-Session-ID": session})
                for i in range(1, 10)
            )
        )
    history = await session_store(app).load(session)
    assert history is not None
    contents = [m.content for m in history]
    for question, answer in zip(contents[::2], contents[1::2], strict=True):
        assert question.split("-")[0] == answer.split("-")[0]


async def test_a_session_whose_lock_stays_busy_answers_409() -> None:
    app = chat_app(session_lock_wait=0.05)
    store = session_store(app)
    async with client(app) as c:
        session = (await c.post("/chat", json={"message": "a"})).headers["x-session-id"]
        lease = await store.acquire(session, 1.0)
        try:
            busy = await c.post("/chat", json={"message": "b"}, headers={"X-Session-ID": session})
        finally:
            await lease.release()
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "session_busy"
    assert busy.headers["x-session-id"] == session


class AsyncUserPrincipal:
    """An async resolver, as a plugin that looks users up would have."""

    @hookimpl
    def ember_ai_principal(self, app: Ember):  # type: ignore[no-untyped-def]
        async def resolve(request: Request) -> str | None:
            await asyncio.sleep(0)
            return request.headers.get("x-user")

        return resolve


async def test_an_async_principal_resolver_scopes_sessions_too() -> None:
    app = chat_app(plugins=[AsyncUserPrincipal()])
    async with client(app) as c:
        first = await c.post("/chat", json={"message": "a"}, headers={"X-User": "ann"})
        session = first.headers["x-session-id"]
        other = await c.post(
            "/chat", json={"message": "b"}, headers={"X-User": "bob", "X-Session-ID": session}
        )
    assert other.json() == {"history": ["b"]}
    assert await session_store(app).load(session) is None  # stored under ann's key only
    assert await session_store(app).load(store_key(session, "ann")) is not None
