"""Ember's OpenAI-compatible gateway in front of the benchmark upstream (UPSTREAM_URL)."""

import os

from ember.ai.openai_compat import openai_gateway
from ember.ai.router import ModelRouter, ModelSpec

router = ModelRouter(
    [ModelSpec("bench-model", "openai", endpoint=os.environ["UPSTREAM_URL"] + "/v1",
               context_window=128_000)],
)
# Only the gateway's routes: plugins installed in the dev venv (the example
# `hello` plugin adds a header to every response) are not part of the measure.
app = openai_gateway(router, load_entry_points=False)
