from ember import (
    Ember, Request, SSEResponse,
    ConversationContext, MessageRole,
    sse_stream, TokenLimits,
)
import asyncio

app = Ember()

async def fake_llm(prompt: str):
    """Simulate a streaming LLM response."""
    for word in f"Sure! You asked about: {prompt}".split():
        await asyncio.sleep(0.05)
        yield word + " "

@app.ai_route(
    "/v1/chat",
    methods=["POST"],
    streaming=True,
    token_limits=TokenLimits(tokens_per_minute=60_000),
)
async def chat(
    request: Request,
    context: ConversationContext,  # auto-injected — per-session history
) -> SSEResponse:
    body = await request.json()
    user_msg = body.get("message", "")
    context.add_message(MessageRole.USER, user_msg)
    stream = fake_llm(user_msg)
    return sse_stream(stream)

if __name__ == "__main__":
    app.run(port=8000)
