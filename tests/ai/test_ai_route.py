"""app.ai_route: injection, streaming forms, recording the reply, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from ember import ConfigError, Ember, HTTPError, Request, SSEResponse, TokenStreamResponse
from ember.ai import ConversationContext, MessageRole, ToolRegistry, sse_stream
from ember.ai.router import ModelRouter, ModelSpec


def client(app: Ember) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def add_history_route(app: Ember) -> None:
    @app.ai_route("/history", methods=["GET"])
    async def history(context: ConversationContext) -> list[dict[str, object]]:
        return [m.to_dict() for m in context.get_messages()]


async def words(text: str) -> AsyncIterator[str]:
    for word in text.split():
        await asyncio.sleep(0)
        yield word + " "


def data_events(body: str) -> list[dict[str, str]]:
    events = []
    for block in body.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            name, _, value = line.partition(":")
            fields[name] = fields.get(name, "") + value[1:] if name in fields else value[1:]
        if fields:
            events.append(fields)
    return events


async def history_of(c: httpx.AsyncClient, session: str) -> list[dict[str, object]]:
    response = await c.get("/history", headers={"X-Session-ID": session})
    assert response.headers["x-session-id"] == session
    return response.json()  # type: ignore[no-any-return]


async def test_context_is_injected_by_annotation_and_saved_for_the_next_turn() -> None:
    app = Ember()

    @app.ai_route("/chat")
    async def chat(request: Request, ctx: ConversationContext) -> dict[str, int]:
        ctx.add_message(MessageRole.USER, (await request.json())["message"])
        return {"messages": len(ctx.get_messages())}

    async with client(app) as c:
        first = await c.post("/chat", json={"message": "one"})
        session = first.headers["x-session-id"]
        second = await c.post("/chat", json={"message": "two"}, headers={"X-Session-ID": session})
    assert first.json() == {"messages": 1}
    assert second.json() == {"messages": 2}
    assert second.headers["x-session-id"] == session


async def test_context_is_injected_by_name_without_annotation() -> None:
    app = Ember()

    @app.ai_route("/chat")
    async def chat(request, context):  # type: ignore[no-untyped-def]
        return {"type": type(context).__name__}

    async with client(app) as c:
        response = await c.post("/chat")
    assert response.json() == {"type": "ConversationContext"}


async def test_model_router_is_injected_from_the_app_option() -> None:
    router = ModelRouter(models=[ModelSpec(name="m1", provider="local")])
    app = Ember(model_router=router)

    @app.ai_route("/chat")
    async def chat(request: Request, context: ConversationContext, model_router: ModelRouter):  # type: ignore[no-untyped-def]
        return {"same": model_router is router}

    async with client(app) as c:
        assert (await c.post("/chat")).json() == {"same": True}


def test_asking_for_a_model_router_the_app_lacks_fails_at_registration() -> None:
    app = Ember()
    with pytest.raises(ConfigError, match="model_router=ModelRouter"):

        @app.ai_route("/chat")
        async def chat(request: Request, model_router: ModelRouter) -> None: ...


async def test_the_routes_tool_registry_is_injected_by_name_and_annotation() -> None:
    registry = ToolRegistry()
    app = Ember()

    @app.ai_route("/a", tool_registry=registry)
    async def by_annotation(request: Request, given: ToolRegistry):  # type: ignore[no-untyped-def]
        return {"same": given is registry}

    @app.ai_route("/b", tool_registry=registry)
    async def by_name(request, tools):  # type: ignore[no-untyped-def]
        return {"same": tools is registry}

    async with client(app) as c:
        assert (await c.post("/a")).json() == {"same": True}
        assert (await c.post("/b")).json() == {"same": True}


async def test_a_streamed_reply_is_recorded_as_the_assistant_message() -> None:
    app = Ember()
    add_history_route(app)

    @app.ai_route("/chat", streaming=True)
    async def chat(request: Request, context: ConversationContext) -> SSEResponse:
        message = (await request.json())["message"]
        context.add_message(MessageRole.USER, message)
        return sse_stream(words(f"You said {message}"))

    async with client(app) as c:
        response = await c.post("/chat", json={"message": "hi"})
        history = await history_of(c, response.headers["x-session-id"])
    tokens = [e["data"] for e in data_events(response.text) if "event" not in e]
    assert tokens == ["You ", "said ", "hi "]
    assert history == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "You said hi "},
    ]


async def test_a_bare_async_generator_handler_streams_tokens() -> None:
    app = Ember()
    add_history_route(app)

    @app.ai_route("/chat", streaming=True)
    async def chat(context: ConversationContext) -> AsyncIterator[str]:
        yield "Hello"
        yield ", world"

    async with client(app) as c:
        response = await c.post("/chat")
        history = await history_of(c, response.headers["x-session-id"])
    assert response.headers["content-type"].startswith("text/event-stream")
    assert [e.get("data") for e in data_events(response.text)] == ["Hello", ", world", "[DONE]"]
    assert history == [{"role": "assistant", "content": "Hello, world"}]


async def test_a_coroutine_returning_an_async_generator_streams_tokens() -> None:
    app = Ember()

    @app.ai_route("/chat", streaming=True)
    async def chat(context: ConversationContext):  # type: ignore[no-untyped-def]
        return words("a b")

    async with client(app) as c:
        response = await c.post("/chat")
    assert [e.get("data") for e in data_events(response.text)] == ["a ", "b ", "[DONE]"]


async def test_a_user_sse_response_of_openai_chunks_is_recorded_by_its_deltas() -> None:
    app = Ember()
    add_history_route(app)

    @app.ai_route("/chat", streaming=True)
    async def chat(context: ConversationContext) -> SSEResponse:
        async def chunks() -> AsyncIterator[str]:
            for token in ["Hel", "lo"]:
                chunk = {
                    "object": "chat.completion.chunk",
                    "choices": [{"delta": {"content": token}}],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"

        return SSEResponse(chunks())

    async with client(app) as c:
        response = await c.post("/chat")
        history = await history_of(c, response.headers["x-session-id"])
    assert history == [{"role": "assistant", "content": "Hello"}]


async def test_every_data_event_has_an_increasing_id_across_turns() -> None:
    app = Ember()

    @app.ai_route("/chat", streaming=True)
    async def chat(context: ConversationContext) -> TokenStreamResponse:
        return sse_stream(words("x y"))

    async with client(app) as c:
        first = await c.post("/chat")
        session = first.headers["x-session-id"]
        second = await c.post("/chat", headers={"X-Session-ID": session})
    ids = [int(e["id"]) for r in (first, second) for e in data_events(r.text)]
    assert ids == [1, 2, 3, 4, 5, 6]


async def test_an_error_before_the_first_event_is_a_json_error_and_saves_nothing() -> None:
    app = Ember()
    add_history_route(app)

    @app.ai_route("/chat", streaming=True)
    async def chat(context: ConversationContext) -> SSEResponse:
        context.add_message(MessageRole.USER, "lost")

        async def failing() -> AsyncIterator[str]:
            raise HTTPError(503, "The model is overloaded.")
            yield "never"

        return sse_stream(failing())

    async with client(app) as c:
        response = await c.post("/chat")
        history = await history_of(c, response.headers["x-session-id"])
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["message"] == "The model is overloaded."
    assert history == []


async def test_an_unexpected_error_before_streaming_is_a_500_without_internals() -> None:
    app = Ember()

    @app.ai_route("/chat", streaming=True)
    async def chat(context: ConversationContext) -> SSEResponse:
        raise RuntimeError("secret-db-password")

    async with client(app) as c:
        response = await c.post("/chat")
    assert response.status_code == 500
    assert "secret" not in response.text
    assert response.json()["error"]["type"] == "server_error"
    assert len(response.headers["x-session-id"]) == 32


async def test_an_error_after_streaming_began_is_an_error_event_then_a_clean_end() -> None:
    app = Ember()
    add_history_route(app)

    @app.ai_route("/chat", streaming=True)
    async def chat(context: ConversationContext) -> SSEResponse:
        async def failing() -> AsyncIterator[str]:
            yield "partial "
            raise RuntimeError("internal detail")

        return sse_stream(failing())

    async with client(app) as c:
        response = await c.post("/chat")
        history = await history_of(c, response.headers["x-session-id"])
    events = data_events(response.text)
    assert response.status_code == 200
    assert events[0]["data"] == "partial "
    assert events[-1]["event"] == "error"
    envelope = json.loads(events[-1]["data"])
    assert envelope["error"]["type"] == "server_error"
    assert "internal detail" not in response.text
    assert "[DONE]" not in response.text
    # What the client was sent stays in the history.
    assert history == [{"role": "assistant", "content": "partial "}]


async def test_a_non_streaming_route_may_return_plain_values() -> None:
    app = Ember()

    @app.ai_route("/chat", methods=["POST"])
    def chat(context: ConversationContext) -> str:  # sync handlers run in a thread
        return "plain"

    async with client(app) as c:
        response = await c.post("/chat")
    assert response.text == "plain"
    assert "x-session-id" in response.headers


async def test_an_http_error_from_the_handler_keeps_the_session_header() -> None:
    app = Ember()

    @app.ai_route("/chat")
    async def chat(context: ConversationContext) -> None:
        raise HTTPError(400, "No message.")

    async with client(app) as c:
        response = await c.post("/chat")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "No message."
    assert len(response.headers["x-session-id"]) == 32


async def test_clear_in_a_turn_replaces_the_stored_history() -> None:
    app = Ember()
    add_history_route(app)

    @app.ai_route("/say")
    async def say(request: Request, context: ConversationContext) -> None:
        context.add_message(MessageRole.USER, (await request.json())["text"])

    @app.ai_route("/reset")
    async def reset(context: ConversationContext) -> None:
        context.clear()
        context.add_message(MessageRole.SYSTEM, "fresh start")

    async with client(app) as c:
        session = (await c.post("/say", json={"text": "a"})).headers["x-session-id"]
        await c.post("/say", json={"text": "b"}, headers={"X-Session-ID": session})
        await c.post("/reset", headers={"X-Session-ID": session})
        await c.post("/say", json={"text": "c"}, headers={"X-Session-ID": session})
        history = await history_of(c, session)
    assert history == [
        {"role": "system", "content": "fresh start"},
        {"role": "user", "content": "c"},
    ]


async def test_the_session_header_name_is_configurable() -> None:
    app = Ember(session_header="X-Conversation")

    @app.ai_route("/chat")
    async def chat(context: ConversationContext) -> dict[str, str | None]:
        return {"id": context.session_id}

    async with client(app) as c:
        first = await c.post("/chat")
        session = first.headers["x-conversation"]
        again = await c.post("/chat", headers={"X-Conversation": session})
    assert "x-session-id" not in first.headers
    assert first.json() == {"id": session}
    assert again.json() == {"id": session}


def test_session_options_are_validated_when_the_app_is_built() -> None:
    with pytest.raises(ConfigError, match="session_header"):
        Ember(session_header="bad header")
    with pytest.raises(ConfigError, match="session_store"):
        Ember(session_store="memory")
    with pytest.raises(ConfigError, match="model_router"):
        Ember(model_router=object())


async def test_shutdown_stops_running_streams_and_saves_what_was_sent() -> None:
    app = Ember()
    release = asyncio.Event()

    @app.ai_route("/chat", streaming=True)
    async def chat(context: ConversationContext) -> AsyncIterator[str]:
        yield "first "
        await release.wait()  # never set: only shutdown ends this stream
        yield "never"

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/chat",
        "raw_path": b"/chat",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, object]] = []
    got_body = asyncio.Event()
    disconnect = asyncio.Event()

    async def receive() -> dict[str, object]:
        if not sent:
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and message.get("body"):
            got_body.set()

    serving = asyncio.create_task(app(scope, receive, send))
    await asyncio.wait_for(got_body.wait(), 5)
    start = sent[0]
    session = dict(start["headers"])[b"x-session-id"].decode()  # type: ignore[call-overload]
    disconnect.set()
    await asyncio.wait_for(serving, 5)
    await app.shutdown()
    from ember.ai.routes import session_store

    history = await session_store(app).load(session)
    assert history is not None
    assert [(m.role, m.content) for m in history] == [(MessageRole.ASSISTANT, "first ")]


async def test_sse_frames_split_across_items_are_numbered_as_whole_events() -> None:
    app = Ember()
    add_history_route(app)

    @app.ai_route("/chat", streaming=True)
    async def chat(context: ConversationContext) -> SSEResponse:
        async def pieces() -> AsyncIterator[str]:
            yield "data: Hel"
            yield "lo\n\ndata: wor"
            yield "ld\r\n\r\n: a comment\n\n"

        return SSEResponse(pieces())

    async with client(app) as c:
        response = await c.post("/chat")
        history = await history_of(c, response.headers["x-session-id"])
    assert response.text == (
        "id: 1\ndata: Hello\n\nid: 2\ndata: world\n\n: a comment\n\n"
        "id: 3\nevent: done\ndata: [DONE]\n\n"
    )
    assert history == [{"role": "assistant", "content": "Helloworld"}]


async def test_sse_stream_outside_an_ai_route_is_a_plain_token_stream() -> None:
    app = Ember()

    @app.post("/plain")
    async def plain() -> TokenStreamResponse:
        return sse_stream(words("a b"))

    async with client(app) as c:
        response = await c.post("/plain")
    assert response.text == "data: a \n\ndata: b \n\n"
    assert "x-session-id" not in response.headers
