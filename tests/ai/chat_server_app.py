"""An ai_route app served by uvicorn in the tests; Redis store when
``EMBER_TEST_REDIS`` is set, else the in-memory store."""

import asyncio
import os

from ember import Ember, Request
from ember.ai import ConversationContext, MessageRole, sse_stream
from ember.ai.sessions import MemorySessionStore, SessionStore
from ember.ai.sessions.redis import RedisSessionStore

store: SessionStore = (
    RedisSessionStore(os.environ["EMBER_TEST_REDIS"], prefix=os.environ["EMBER_TEST_PREFIX"])
    if os.environ.get("EMBER_TEST_REDIS")
    else MemorySessionStore()
)
app = Ember(session_store=store, sse_ping_interval=float(os.environ.get("EMBER_TEST_PING", "15")))


@app.ai_route("/chat")
async def chat(request: Request, context: ConversationContext) -> dict[str, object]:
    context.add_message(MessageRole.USER, (await request.json())["message"])
    return {"history": [m.content for m in context.get_messages()], "pid": os.getpid()}


@app.ai_route("/stream", streaming=True)
async def stream(request: Request, context: ConversationContext):  # type: ignore[no-untyped-def]
    count = int((await request.json())["count"])
    delay = float(request.query.get("delay", "0.05"))

    async def tokens():  # type: ignore[no-untyped-def]
        for i in range(count):
            await asyncio.sleep(delay)
            yield f"t{i} "

    return sse_stream(tokens())


@app.ai_route("/history", methods=["GET"])
async def history(context: ConversationContext) -> list[str]:
    return [f"{m.role.value}:{m.content}" for m in context.get_messages()]
