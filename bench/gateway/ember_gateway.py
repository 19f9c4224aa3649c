"""Ember's OpenAI-compatible gateway in front of the benchmark upstream (UPSTREAM_URL)."""

import os

import httpx
from ember.ai.openai_compat import openai_gateway
from ember.ai.router import ModelRouter, ModelSpec

# EMBER_TRANSPORT=httpx forces httpx's own transport; otherwise the router picks
# httpx-aiohttp's, which the bench installs (what `ember[fast]` gives users).
transport = None
if os.environ.get("EMBER_TRANSPORT") == "httpx":
    transport = httpx.AsyncHTTPTransport()
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
