"""Ember's demo: a chat app and an OpenAI-compatible API, offline, in one file.

Run it with ``python3 -m nox -s demo`` (or ``ember run demo:app --app-dir
examples``) and open http://127.0.0.1:8000/.

No API key and no network are needed: the model is ember-ai's embedded
``local`` provider, a deterministic stand-in that answers "You said: ..." and
calls a tool when your message names one (try ``get_weather {"city": "Paris"}``).
To talk to a real model, replace the ModelSpec below with one such as
``ModelSpec(name="gpt-4o-mini", provider="openai", api_key_env="OPENAI_API_KEY",
supports_tools=True)``; nothing else changes.

What it serves:

- ``GET  /``                     a chat page: plain HTML and JavaScript, no build step
- ``POST /chat``                 an ai_route: per-session memory (``X-Session-ID``),
                                 streamed tokens, a tool the model may call, and
                                 a token budget per client (429 once it is spent)
- ``GET  /chat/history``         what the session remembers
- ``POST /v1/chat/completions``  the OpenAI Chat Completions API, so the official
- ``GET  /v1/models``            ``openai`` client works unchanged::

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")
    client.chat.completions.create(model="ember-local", messages=[...])
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ember import (
    ConversationContext,
    Ember,
    HTMLResponse,
    HTTPError,
    MessageRole,
    ModelRouter,
    ModelSpec,
    Request,
    TokenLimits,
    ToolRegistry,
)
from ember.ai.openai_compat import add_openai_routes
from ember.ai.providers import LocalProvider

# -- the model ---------------------------------------------------------------

router = ModelRouter(
    models=[
        ModelSpec(
            name="ember-local",
            provider="local",
            max_tokens=512,
            context_window=8_192,
            supports_tools=True,  # the router skips models without it when tools are sent
        ),
    ],
    # The local model answers instantly; a pause between words lets you watch
    # the tokens stream in, as they would from a real model.
    providers={"local": LocalProvider(token_delay=0.03)},
)

# -- a tool the model can call -----------------------------------------------

tools = ToolRegistry()


@tools.register(description="Get the current weather for a city")
async def get_weather(city: str, units: str = "celsius") -> dict[str, Any]:
    # A real app would call a weather service here; the demo stays offline.
    return {"city": city, "temperature": 22, "units": units, "sky": "clear"}


# -- the app -----------------------------------------------------------------

# ai_route handlers receive this router (by the name or type `model_router`).
app = Ember(model_router=router)

# /v1/chat/completions and /v1/models, backed by the same router.
add_openai_routes(app)

SYSTEM_PROMPT = "You are Ember's demo assistant. Use the tools when they help."


@app.ai_route(
    "/chat",
    methods=["POST"],
    streaming=True,
    tool_registry=tools,
    # Each client (its API key, else its IP) gets 2,000 tokens a minute on this
    # route. A request's prompt and its largest possible reply are reserved
    # before the handler runs and settled against the real usage afterwards,
    # so even concurrent requests cannot overspend the budget.
    token_limits=TokenLimits(
        tokens_per_minute=2_000,
        max_prompt_tokens=1_000,  # a longer message is refused with 400
        max_completion_tokens=256,  # replies are cut at 256 tokens
    ),
)
async def chat(
    request: Request,
    context: ConversationContext,  # this session's history, loaded from X-Session-ID
    model_router: ModelRouter,
) -> AsyncIterator[str]:
    body = await request.json()
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        raise HTTPError(400, 'Send a JSON body such as {"message": "Hello"}.', param="message")
    if not context.get_messages():  # the first turn of a new session
        context.add_message(MessageRole.SYSTEM, SYSTEM_PROMPT)
    context.add_message(MessageRole.USER, message)
    # Model -> tool calls -> tool results -> model, streaming the answer's
    # tokens as they come. ai_route sends them as SSE and, when the stream
    # ends, records the reply in the session as the assistant's message.
    return model_router.stream_tool_loop(context, tools, request=request)


@app.ai_route("/chat/history", methods=["GET"])
async def history(context: ConversationContext) -> dict[str, Any]:
    return {"messages": [m.to_dict() for m in context.get_messages()]}


# -- the page ----------------------------------------------------------------

# Read once at import: the page never changes while the app runs.
PAGE = (Path(__file__).parent / "demo_static" / "index.html").read_text(encoding="utf-8")


@app.get("/")
async def page() -> HTMLResponse:
    return HTMLResponse(PAGE)


if __name__ == "__main__":
    app.run(port=8000)
