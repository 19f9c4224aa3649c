# The seed's "ToolRegistry" samples, in order. The execute sample awaits at
# top level, which a module cannot: it runs inside `main()` below, unchanged.
from ember import ToolRegistry
from ember.ai.tools import ToolCall, ParameterSchema

tools = ToolRegistry()

@tools.register(description="Get current weather for a city")
async def get_weather(city: str, units: str = "celsius") -> dict:
    return {"city": city, "temperature": 22, "units": units}

@tools.register(
    name="search",
    description="Search the web for information",
    parameters=[
        ParameterSchema("query", "string", "Search query"),
        ParameterSchema("limit", "integer", "Max results", required=False),
    ],
)
async def search_web(query: str, limit: int = 5) -> list:
    return [{"title": f"Result for {query}"}]


async def main():
    result = await tools.execute(ToolCall(
        id="call_01",
        name="get_weather",
        arguments={"city": "Paris", "units": "celsius"},
    ))
    print(result.content)   # '{"city": "Paris", "temperature": 22, "units": "celsius"}'
    print(result.is_error)  # False
    return result


tools.to_openai_specs()     # for OpenAI function calling
tools.to_anthropic_specs()  # for Anthropic tools

# "Use in a route" adds an ai_route to an app; this line creates the app.
from ember import Ember

app = Ember()

@app.ai_route("/v1/chat", methods=["POST"], streaming=True, tool_registry=tools)
async def chat(request, context):
    ...

if __name__ == "__main__":
    import asyncio

    asyncio.run(main())
