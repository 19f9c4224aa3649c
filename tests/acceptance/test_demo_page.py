"""The demo's chat page, driven in a real headless Chromium against the demo under uvicorn.

Needs a Chromium on the machine (Debian: ``apt-get install chromium``), found
as ``chromium`` on the PATH or at ``$EMBER_CHROMIUM``; Playwright drives it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from servers import uvicorn_server

WAIT_MS = 20_000


def chromium_path() -> str:
    found = os.environ.get("EMBER_CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail(
            "The chat page test needs Chromium: `apt-get install chromium` "
            "or set EMBER_CHROMIUM to a Chromium executable."
        )
    return found


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with uvicorn_server("demo:app") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    page = browser.new_page()
    page.goto(f"{server}/")
    yield page
    page.close()


def send(page: Page, message: str) -> None:
    """Type ``message``, submit it, and wait until the page is ready for the next one."""
    page.fill("#message", message)
    page.press("#message", "Enter")
    page.wait_for_function("() => !document.getElementById('message').disabled", timeout=WAIT_MS)


def lines(page: Page) -> list[tuple[str, str]]:
    return [
        (line.get_attribute("class") or "", line.text_content() or "")
        for line in page.query_selector_all("#log > div")
    ]


def test_the_reply_appears_token_by_token(page: Page) -> None:
    message = " ".join(f"w{n}" for n in range(30))
    final = f"You said: {message}"
    page.fill("#message", message)
    page.press("#message", "Enter")
    # Some of the reply, but not all of it yet: the page shows tokens as they stream.
    page.wait_for_function(
        """(final) => {
            const reply = document.querySelector('.assistant');
            return reply && reply.textContent.length > 0 && reply.textContent !== final;
        }""",
        arg=final,
        timeout=WAIT_MS,
    )
    page.wait_for_function(
        "(final) => document.querySelector('.assistant').textContent === final",
        arg=final,
        timeout=WAIT_MS,
    )


def session_shown(page: Page) -> str:
    # The status line reads "Session <id> · <n> tokens left this minute".
    return (page.text_content("#status") or "").split(" ")[1]


def test_the_page_keeps_its_session_across_turns(page: Page, server: str) -> None:
    send(page, "My name is Ada.")
    session = session_shown(page)
    send(page, "What is my name?")
    assert session_shown(page) == session
    history = httpx.get(
        f"{server}/chat/history", headers={"X-Session-ID": session}, timeout=10
    ).json()
    users = [m["content"] for m in history["messages"] if m["role"] == "user"]
    assert users == ["My name is Ada.", "What is my name?"]
    assert lines(page)[-1] == ("assistant", "You said: What is my name?")


def test_the_page_shows_the_tool_result(page: Page) -> None:
    send(page, 'get_weather {"city": "Oslo"}')
    kind, text = lines(page)[-1]
    assert kind == "assistant"
    assert text.startswith('get_weather returned: {"city": "Oslo", "temperature": 22')


def test_the_page_shows_an_error_from_the_server(page: Page) -> None:
    send(page, "word " * 1_200)  # over the route's max_prompt_tokens
    kind, text = lines(page)[-1]
    assert kind == "error"
    assert text.startswith("400: The prompt is too long for this endpoint")
