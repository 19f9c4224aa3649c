"""The demo (examples/demo.py), served by uvicorn, does what its page and docs promise."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI
from servers import uvicorn_server

TIMEOUT = httpx.Timeout(30.0)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with uvicorn_server("demo:app") as url:
        yield url


def own_key() -> dict[str, str]:
    # Token budgets are per client key: each test spends its own.
    return {"Authorization": f"Bearer demo-test-{secrets.token_hex(8)}"}


def events(body: str) -> list[tuple[str, str]]:
    """``(event, data)`` of each SSE event, data lines joined as a browser does."""
    found = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        event, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data.append(line.removeprefix("data: "))
        if data:
            found.append((event, "\n".join(data)))
    return found


def chat(
    client: httpx.Client, message: str, session: str | None = None
) -> tuple[httpx.Response, str]:
    """One turn of /chat: the response and the reply text it streamed."""
    headers = {"X-Session-ID": session} if session else {}
    with client.stream("POST", "/chat", json={"message": message}, headers=headers) as response:
        body = response.read().decode()
    assert response.status_code == 200, body
    streamed = events(body)
    assert streamed[-1] == ("done", "[DONE]")
    return response, "".join(data for event, data in streamed if event == "message")


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, headers=own_key(), timeout=TIMEOUT) as client:
        yield client


def openai_client(server: str) -> OpenAI:
    return OpenAI(base_url=f"{server}/v1", api_key="unused-offline", max_retries=0, timeout=30)


def test_the_openai_client_gets_a_whole_answer(server: str) -> None:
    completion = openai_client(server).chat.completions.create(
        model="ember-local", messages=[{"role": "user", "content": "Hello, Ember"}]
    )
    assert completion.choices[0].message.content == "You said: Hello, Ember"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_the_openai_client_streams_the_answer(server: str) -> None:
    stream = openai_client(server).chat.completions.create(
        model="ember-local",
        messages=[{"role": "user", "content": "Stream this please"}],
        stream=True,
    )
    pieces = [chunk.choices[0].delta.content for chunk in stream if chunk.choices]
    text = [piece for piece in pieces if piece]
    assert "".join(text) == "You said: Stream this please"
    assert len(text) > 1  # word by word, not one block


def test_the_openai_client_lists_the_local_model(server: str) -> None:
    assert [model.id for model in openai_client(server).models.list()] == ["ember-local"]


def test_chat_streams_the_reply_and_issues_a_session(client: httpx.Client) -> None:
    response, reply = chat(client, "What is Ember?")
    assert response.headers["content-type"].startswith("text/event-stream")
    assert len(response.headers["x-session-id"]) == 32
    assert reply == "You said: What is Ember?"


def test_chat_remembers_the_conversation_across_turns(client: httpx.Client) -> None:
    first, _ = chat(client, "My name is Ada.")
    session = first.headers["x-session-id"]
    second, _ = chat(client, "What is my name?", session)
    assert second.headers["x-session-id"] == session

    history = client.get("/chat/history", headers={"X-Session-ID": session}).json()
    assert [(m["role"], m["content"]) for m in history["messages"]] == [
        ("system", "You are Ember's demo assistant. Use the tools when they help."),
        ("user", "My name is Ada."),
        ("assistant", "You said: My name is Ada."),
        ("user", "What is my name?"),
        ("assistant", "You said: What is my name?"),
    ]


def test_a_turn_without_the_session_header_starts_afresh(client: httpx.Client) -> None:
    first, _ = chat(client, "Remember the number 7.")
    second, _ = chat(client, "Which number?")
    assert second.headers["x-session-id"] != first.headers["x-session-id"]
    history = client.get(
        "/chat/history", headers={"X-Session-ID": second.headers["x-session-id"]}
    ).json()
    assert "Remember the number 7." not in [m["content"] for m in history["messages"]]


def test_chat_runs_the_tool_the_model_calls(client: httpx.Client) -> None:
    response, reply = chat(client, 'get_weather {"city": "Paris"}')
    assert reply == (
        'get_weather returned: {"city": "Paris", "temperature": 22, '
        '"units": "celsius", "sky": "clear"}'
    )
    session = response.headers["x-session-id"]
    history = client.get("/chat/history", headers={"X-Session-ID": session}).json()
    call, result = history["messages"][2:4]
    assert call["tool_calls"][0]["name"] == "get_weather"
    assert call["tool_calls"][0]["arguments"] == {"city": "Paris"}
    assert result["role"] == "tool" and json.loads(result["content"])["city"] == "Paris"


def test_the_chat_page_is_served(server: str) -> None:
    response = httpx.get(f"{server}/", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    # Tokens are read from the POST's body stream and the session is sent back.
    assert "getReader()" in page and 'fetch("/chat"' in page
    assert 'headers["X-Session-ID"] = sessionId' in page


def test_chat_over_the_token_budget_gets_a_429_envelope(client: httpx.Client) -> None:
    # ~850 prompt tokens + the 256-token completion cap are reserved per
    # request: one fits in the route's 2,000 tokens a minute, two at once do not.
    long_message = "word " * 850
    with client.stream("POST", "/chat", json={"message": long_message}) as first:
        assert first.status_code == 200
        second = client.post("/chat", json={"message": long_message})
    assert second.status_code == 429
    assert int(second.headers["retry-after"]) >= 1
    error = second.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert error["type"] == "tokens"
    assert "Rate limit reached" in error["message"]


def test_a_message_over_the_prompt_limit_is_refused(client: httpx.Client) -> None:
    response = client.post("/chat", json={"message": "word " * 1_200})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "prompt_too_long"
