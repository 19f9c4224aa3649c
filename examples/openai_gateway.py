"""An OpenAI-compatible gateway in front of OpenAI, Anthropic and the local model.

    cd examples && ember run openai_gateway:app

Then point any OpenAI client at it::

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")
    client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])

With OPENAI_API_KEY or ANTHROPIC_API_KEY set, those models answer; without
them (or offline) each fails before its first token, rests, and the embedded
`local` model answers instead. The response headers tell which
(`x-ember-route-model`, `x-ember-route-failures`, `x-ember-route-skipped`).
"""

from ember import Ember
from ember.ai.openai_compat import add_openai_routes
from ember.ai.router import ModelRouter, ModelSpec, RoutingStrategy

router = ModelRouter(
    models=[
        ModelSpec(
            name="gpt-4o-mini",
            provider="openai",
            api_key_env="OPENAI_API_KEY",
            context_window=128_000,
            cost_per_input_token=0.00015,
            cost_per_output_token=0.0006,
            supports_tools=True,
        ),
        ModelSpec(
            name="claude-haiku",
            provider="anthropic",
            upstream_model="claude-3-5-haiku-latest",
            api_key_env="ANTHROPIC_API_KEY",
            context_window=200_000,
            cost_per_input_token=0.0008,
            cost_per_output_token=0.004,
            supports_tools=True,
        ),
        ModelSpec(name="local", provider="local", context_window=32_000, supports_tools=True),
    ],
    strategy=RoutingStrategy.FALLBACK,
    cooldown=60,  # a model without a key is not retried on every request
)

app = Ember(model_router=router)
add_openai_routes(app)
