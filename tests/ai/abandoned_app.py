"""An ai_route app for the abandoned-reply tests, served by uvicorn.

``EMBER_TEST_GRACE`` sets ``resume_grace`` ("none" for None); the Redis store
is used when ``EMBER_TEST_REDIS`` is set. ``GET /closed`` tells, per session,
how many tokens the handler's generator had yielded when its ``finally`` ran
-- the point where a real handler closes its upstream request.
"""

import asyncio
import os

from ember import Ember, Request
from ember.ai import ConversationContext, sse_stream
from ember.ai.sessions import MemorySessionStore, SessionStore
from ember.ai.sessions.redis import RedisSessionStore

store: SessionStore = (
    RedisSessionStore(os.environ["EMBER_TEST_REDIS"], prefix=os.environ["EMBER_TEST_PREFIX"])
    if os.environ.get("EMBER_TEST_REDIS")
    else MemorySessionStore()
)
grace = os.environ.get("EMBER_TEST_GRACE", "15")
app = Ember(session_store=store, resume_grace=None if grace == "none" else float(grace))

closed: dict[str, int] = {}


@app.ai_route("/stream", streaming=True)
async def stream(request: Request, context: ConversationContext):  # type: ignore[no-untyped-def]
    count = int((await request.json())["count"])
    session = str(context.session_id)

    async def tokens():  # type: ignore[no-untyped-def]
        sent = 0
        try:
            for i in range(count):
                await asyncio.sleep(0.05)
                sent = i + 1
                yield f"t{i} "
        finally:
            closed[session] = sent

    return sse_stream(tokens())


@app.get("/closed")
async def closed_generators() -> dict[str, int]:
    return closed


@app.ai_route("/history", methods=["GET"])
async def history(context: ConversationContext) -> list[str]:
    return [f"{m.role.value}:{m.content}" for m in context.get_messages()]
