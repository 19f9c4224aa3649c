# The seed's "Token Rate Limiting" sample. The sample uses an `app` made
# earlier in the seed document; these two lines make it; the rest is verbatim.
from ember import Ember
app = Ember()

from ember import TokenLimits, GlobalTokenBucket, RateLimitMiddleware

# Global bucket: 100k tokens/minute across all users
bucket = GlobalTokenBucket(
    capacity=100_000.0,
    refill_rate=100_000.0 / 60,  # per second
)
app.add_middleware(RateLimitMiddleware(
    global_bucket=bucket,
    estimate_from_body=True,  # deducts estimated tokens from request body
))

# Per-route limits
@app.ai_route(
    "/v1/premium",
    methods=["POST"],
    token_limits=TokenLimits(
        tokens_per_minute=10_000,
        max_prompt_tokens=4_096,
        max_completion_tokens=2_048,
    ),
)
async def premium_chat(request, context): ...

if __name__ == "__main__":
    app.run(port=8000)
