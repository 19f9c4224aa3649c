"""The seed's "ModelRouter" sample, unchanged.

Run: ``ember run seed_model_router:app`` (from examples/), then
``curl -i -X POST http://127.0.0.1:8000/v1/chat -d '{}'``: the response's
``x-ember-route-model`` header names the model ``select()`` chose. Choosing
needs no API key; calling the models would (see docs/routing.md).
"""

from ember import Ember  # the sample uses Ember from the seed's earlier sections

from ember import ModelRouter, ModelSpec, RoutingStrategy

router = ModelRouter(
    models=[
        ModelSpec(
            name="gpt-4o-mini",
            provider="openai",
            endpoint="https://api.openai.com/v1/chat/completions",
            api_key_env="OPENAI_API_KEY",
            max_tokens=4096,
            context_window=128_000,
            cost_per_input_token=0.00015,
            cost_per_output_token=0.0006,
            supports_tools=True,
        ),
        ModelSpec(
            name="claude-haiku",
            provider="anthropic",
            endpoint="https://api.anthropic.com/v1/messages",
            api_key_env="ANTHROPIC_API_KEY",
            max_tokens=4096,
            context_window=200_000,
            cost_per_input_token=0.0008,
            cost_per_output_token=0.004,
        ),
    ],
    strategy=RoutingStrategy.FALLBACK,  # try first, fall back on error
)

app = Ember(model_router=router)

@app.ai_route("/v1/chat", methods=["POST"])
async def chat(request, context, model_router: ModelRouter):
    model = await model_router.select(request, context)
    # model.name → "gpt-4o-mini" or "claude-haiku"
    ...
