from ember import Ember, SSEResponse
import asyncio

app = Ember()

@app.get("/stream")
async def stream_numbers(request):
    async def events():
        for i in range(10):
            await asyncio.sleep(0.1)
            yield f"data: {i}\n\n"
    return SSEResponse(events())

if __name__ == "__main__":
    app.run(port=8000)
