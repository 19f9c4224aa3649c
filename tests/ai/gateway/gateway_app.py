"""The gateway under test: a router over the fake upstream (FAKE_LLM_URL) and the local model."""

import os

import httpx
from ember import Ember
from ember.ai.openai_compat import add_openai_routes
from ember.ai.router import ModelRouter, ModelSpec

base = os.environ["FAKE_LLM_URL"]

# None lets the router pick (httpx-aiohttp's transport, installed here); "httpx"
# forces httpx's own, so both stay tested.
transport = None
if os.environ.get("GATEWAY_TRANSPORT") == "httpx":
    transport = httpx.AsyncHTTPTransport()
router = ModelRouter(
    [
        ModelSpec(
            "gpt-fake",
            "openai",
            endpoint=base + "/v1",
            api_key_env="FAKE_GATEWAY_KEY",
            supports_tools=True,
        ),
        ModelSpec(
            "claude-fake",
            "anthropic",
            endpoint=base,
            api_key_env="FAKE_GATEWAY_KEY",
            supports_tools=True,
        ),
        ModelSpec("local-echo", "local", supports_tools=True, context_window=60),
    ],
    # Tests share this process: a failing model must not stay out of later tests.
    cooldown=0,
    transport=transport,
)
app = Ember(model_router=router)
add_openai_routes(app)
