"""Ember's OpenAI-compatible gateway in front of the benchmark upstream (UPSTREAM_URL)."""

import os

from ember.ai.openai_compat import openai_gateway
from ember.ai.router import ModelRouter, ModelSpec

# EMBER_TRANSPORT=aiohttp: the optional transport of ember-ai[aiohttp]; else httpx's own.
transport = None
if os.environ.get("EMBER_TRANSPORT") == "aiohttp":
    from httpx_aiohttp import AiohttpTransport

    transport = AiohttpTransport()
router = ModelRouter(
    [
        ModelSpec(
            "bench-model",
            "openai",
            endpoint=os.environ["UPSTREAM_URL"] + "/v1",
            context_window=128_000,
        )
    ],
    transport=transport,
)
# Only the gateway's routes: plugins installed in the dev venv (the example
# `hello` plugin adds a header to every response) are not part of the measure.
app = openai_gateway(router, load_entry_points=False)
