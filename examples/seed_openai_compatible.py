import json, uuid, asyncio
from ember import Ember, Request, SSEResponse

app = Ember()

@app.post("/v1/chat/completions")
async def completions(request: Request) -> SSEResponse:
    body = await request.json()
    stream = body.get("stream", False)
    model = body.get("model", "ember-default")

    async def fake_tokens():
        for word in "Hello! I am Ember, your AI assistant.".split():
            await asyncio.sleep(0.05)
            yield word + " "

    if stream:
        async def openai_stream():
            chunk_id = f"chatcmpl-{uuid.uuid4().hex[:8]}"
            async for token in fake_tokens():
                chunk = {
                    "id": chunk_id,
                    "object": "chat.completion.chunk",
                    "model": model,
                    "choices": [{"delta": {"content": token}, "index": 0, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"
        return SSEResponse(openai_stream())
    else:
        tokens = []
        async for t in fake_tokens():
            tokens.append(t)
        content = "".join(tokens)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
            "object": "chat.completion",
            "model": model,
            "choices": [{"message": {"role": "assistant", "content": content}, "index": 0}],
            "usage": {"prompt_tokens": 20, "completion_tokens": len(tokens), "total_tokens": 20 + len(tokens)},
        }

if __name__ == "__main__":
    app.run(port=8000)
