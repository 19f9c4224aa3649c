# The seed's "Token Streaming" sample adds a route to the `app` of the sample
# before it ("Basic SSE Streaming"); these two lines create that app.
from ember import Ember

app = Ember()

from ember import TokenStreamResponse
import asyncio

@app.post("/generate")
async def generate(request):
    data = await request.json()
    prompt = data.get("prompt", "")
    async def tokens():
        words = f"You asked: {prompt}. Here is my answer.".split()
        for word in words:
            await asyncio.sleep(0.04)
            yield word + " "
    return TokenStreamResponse(tokens())

if __name__ == "__main__":
    app.run(port=8000)
