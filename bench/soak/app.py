"""The app the soak benchmark serves: every stateful part of Ember at once.

- the OpenAI-compatible gateway (``/v1/chat/completions``), stream and not,
  through a ``ModelRouter`` to the fake upstream at ``UPSTREAM_URL``;
- an ``ai_route`` (``/chat``) streaming the same model's answer with
  sessions (a bounded in-memory store) and resumable-stream buffers;
- ``RateLimitMiddleware`` on the in-memory backend, with a global budget and
  a per-key budget, so every request reserves, holds a lease and settles.

What must stay flat under hours of this is the process's memory. Served
with ``EMBER_LOAD_PLUGINS=ai,ratelimit`` (the example ``hello`` plugin of the
dev venv is not part of it).
"""

from __future__ import annotations

import os
from typing import Any

from ember import (
    ConversationContext,
    Ember,
    GlobalTokenBucket,
    MessageRole,
    RateLimitMiddleware,
    Request,
)
from ember.ai.openai_compat import add_openai_routes
from ember.ai.router import ModelRouter, ModelSpec
from ember.ai.sessions import MemorySessionStore
from ember.ai.tools import ToolRegistry
from ember.ratelimit.buckets import TokenBucket

NO_TOOLS = ToolRegistry()  # the tool loop then only streams the answer

router = ModelRouter(
    [
        ModelSpec(
            "bench-model",
            "openai",
            endpoint=os.environ["UPSTREAM_URL"] + "/v1",
            context_window=128_000,
        )
    ]
)
app = Ember(
    model_router=router,
    session_store=MemorySessionStore(max_sessions=5_000, ttl=600),
)
add_openai_routes(app)
app.add_middleware(
    RateLimitMiddleware(
        global_bucket=GlobalTokenBucket(capacity=10**12, refill_rate=10**10),
        key_bucket=TokenBucket(capacity=10**10, refill_rate=10**8),
    )
)


@app.ai_route("/chat", methods=["POST"], streaming=True)
async def chat(request: Request, context: ConversationContext, model_router: ModelRouter) -> Any:
    body = await request.json()
    context.add_message(MessageRole.USER, str(body.get("message", "")))
    return model_router.stream_tool_loop(context, NO_TOOLS, request=request, max_tokens=64)
