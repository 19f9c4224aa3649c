"""Resumable streams over real sockets: cut a connection mid-stream, reconnect
with Last-Event-ID, get what was missed and then the rest."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from servers import uvicorn_server

HERE = Path(__file__).resolve().parent


def events(text: str) -> list[dict[str, str]]:
    found = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        if fields:
            found.append(fields)
    return found


def read_until_id(base: str, stop_at: int, count: int) -> tuple[str, list[dict[str, str]]]:
    """Start a stream, read it until event ``stop_at``, then drop the connection."""
    seen: list[dict[str, str]] = []
    current: dict[str, str] = {}
    with httpx.stream("POST", f"{base}/stream", json={"count": count}, timeout=10) as response:
        session = response.headers["x-session-id"]
        for line in response.iter_lines():
            if line:
                name, _, value = line.partition(":")
                current[name] = value[1:]
                continue
            if current:
                seen.append(current)
                if current.get("id") == str(stop_at):
                    break
                current = {}
    return session, seen


def history_when_done(base: str, session: str) -> list[str]:
    deadline = time.monotonic() + 10
    while True:
        history = httpx.get(f"{base}/history", headers={"X-Session-ID": session}, timeout=10)
        if history.json() or time.monotonic() > deadline:
            return list(history.json())
        time.sleep(0.05)


@pytest.fixture(params=["memory", "redis"])
def servers(request: pytest.FixtureRequest) -> tuple[str, str]:
    """Two base URLs: the same server twice (memory), or two processes (Redis)."""
    if request.param == "memory":
        with uvicorn_server("chat_server_app:app", app_dir=HERE) as base:
            yield base, base
        return
    redis_url = request.getfixturevalue("redis_url")
    env = {"EMBER_TEST_REDIS": redis_url, "EMBER_TEST_PREFIX": f"test:{uuid.uuid4().hex}:"}
    with (
        uvicorn_server("chat_server_app:app", app_dir=HERE, env=env) as one,
        uvicorn_server("chat_server_app:app", app_dir=HERE, env=env) as two,
    ):
        yield one, two


def test_a_cut_stream_resumes_from_last_event_id(servers: tuple[str, str]) -> None:
    first, second = servers
    session, seen = read_until_id(first, stop_at=4, count=20)
    assert [e["data"] for e in seen] == ["t0 ", "t1 ", "t2 ", "t3 "]

    resumed = httpx.post(
        f"{second}/stream",
        json={"count": 20},
        headers={"X-Session-ID": session, "Last-Event-ID": "4"},
        timeout=20,
    )
    rest = events(resumed.text)
    assert resumed.headers["x-session-id"] == session
    assert [int(e["id"]) for e in rest] == list(range(5, 22))
    assert [e["data"] for e in rest[:-1]] == [f"t{i} " for i in range(4, 20)]
    assert rest[-1] == {"id": "21", "event": "done", "data": "[DONE]"}


def test_a_disconnected_reply_is_finished_and_recorded_whole(servers: tuple[str, str]) -> None:
    # The rest of the reply takes well under the default resume_grace (15 s);
    # replies that outlive it are tested in test_abandoned_replies.py.
    first, second = servers
    session, _ = read_until_id(first, stop_at=2, count=10)
    history = history_when_done(second, session)
    assert history == ["assistant:" + "".join(f"t{i} " for i in range(10))]


def test_resuming_an_ended_stream_sends_nothing(servers: tuple[str, str]) -> None:
    first, _ = servers
    done = httpx.post(f"{first}/stream", json={"count": 2}, timeout=10)
    session = done.headers["x-session-id"]
    last = events(done.text)[-1]["id"]
    again = httpx.post(
        f"{first}/stream",
        json={"count": 2},
        headers={"X-Session-ID": session, "Last-Event-ID": last},
        timeout=10,
    )
    assert again.status_code == 200
    assert again.text == ""


def test_an_unknown_last_event_id_is_410_and_a_malformed_one_400() -> None:
    with uvicorn_server("chat_server_app:app", app_dir=HERE) as base:
        session = httpx.post(f"{base}/stream", json={"count": 1}, timeout=10).headers[
            "x-session-id"
        ]
        gone = httpx.post(
            f"{base}/stream",
            json={"count": 1},
            headers={"X-Session-ID": session, "Last-Event-ID": "999"},
            timeout=10,
        )
        bad = httpx.post(
            f"{base}/stream",
            json={"count": 1},
            headers={"X-Session-ID": session, "Last-Event-ID": "abc"},
            timeout=10,
        )
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "stream_not_resumable"
    assert bad.status_code == 400


def test_keep_alive_comments_carry_no_id() -> None:
    with uvicorn_server(
        "chat_server_app:app", app_dir=HERE, env={"EMBER_TEST_PING": "0.05"}
    ) as base:
        response = httpx.post(f"{base}/stream?delay=0.3", json={"count": 2}, timeout=10)
    blocks = [b for b in response.text.split("\n\n") if b]
    pings = [b for b in blocks if b.startswith(":")]
    assert pings, "the slow stream should have been kept alive"
    assert all("id:" not in b for b in pings)
    assert all(b.startswith("id: ") for b in blocks if not b.startswith(":"))
