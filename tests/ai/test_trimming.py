"""Trimming a history to a model's context window, by counted tokens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ember.ai import ConversationContext, Message, MessageRole
from ember.ai.router import ModelSpec
from ember.ai.tokens import count_message, count_messages, count_text, trim_messages
from ember.ai.tools import ToolCall
from hypothesis import given, settings
from hypothesis import strategies as st

SYSTEM = Message(MessageRole.SYSTEM, "You are a terse assistant.")


def turn(n: int) -> list[Message]:
    return [
        Message(MessageRole.USER, f"question number {n} about something"),
        Message(MessageRole.ASSISTANT, f"answer number {n}, with some detail"),
    ]


def test_counts_come_from_the_offline_cl100k_encoding() -> None:
    assert count_text("hello world") == 2
    # 3 per message + role + content; 3 to prime the reply.
    assert count_message(Message(MessageRole.USER, "hello world")) == 3 + 1 + 2
    assert count_messages([Message(MessageRole.USER, "hello world")]) == 3 + 6


def test_a_history_that_fits_is_kept_whole() -> None:
    messages = [SYSTEM, *turn(1), *turn(2)]
    assert trim_messages(messages, count_messages(messages)) == messages


def test_one_token_short_drops_the_oldest_message_and_keeps_the_system_one() -> None:
    messages = [SYSTEM, *turn(1), *turn(2)]
    trimmed = trim_messages(messages, count_messages(messages) - 1)
    assert trimmed == [SYSTEM, messages[2], *turn(2)]


def test_the_budget_boundary_is_exact() -> None:
    messages = [SYSTEM, *turn(1), *turn(2)]
    newest_two = [SYSTEM, *turn(2)]
    exact = count_messages(newest_two)
    assert trim_messages(messages, exact) == newest_two
    assert trim_messages(messages, exact - 1) == [SYSTEM, turn(2)[1]]


def test_system_messages_stay_even_when_they_alone_overflow() -> None:
    messages = [SYSTEM, *turn(1)]
    assert trim_messages(messages, 5) == [SYSTEM]


def test_kept_turns_are_contiguous_newest_ones() -> None:
    short_old = Message(MessageRole.USER, "hi")
    long_new = Message(MessageRole.USER, "word " * 200)
    latest = Message(MessageRole.ASSISTANT, "ok")
    messages = [short_old, long_new, latest]
    budget = count_messages([short_old, latest])  # the old one would fit, but not in order
    assert trim_messages(messages, budget) == [latest]


def test_a_tool_call_and_its_results_are_kept_or_dropped_together() -> None:
    call = Message(
        MessageRole.ASSISTANT,
        "",
        tool_calls=(
            ToolCall("c1", "weather", {"city": "Paris"}),
            ToolCall("c2", "weather", {"city": "Oslo"}),
        ),
    )
    results = [
        Message(MessageRole.TOOL, "22", name="weather", tool_call_id="c1"),
        Message(MessageRole.TOOL, "3", name="weather", tool_call_id="c2"),
    ]
    answer = Message(MessageRole.ASSISTANT, "Paris is warmer.")
    messages = [SYSTEM, Message(MessageRole.USER, "compare"), call, *results, answer]
    whole_unit = count_messages([SYSTEM, call, *results, answer])
    assert trim_messages(messages, whole_unit) == [SYSTEM, call, *results, answer]
    # One token fewer: the results would fit alone, but never without their call.
    assert trim_messages(messages, whole_unit - 1) == [SYSTEM, answer]


def test_the_context_trims_for_a_model_leaving_room_for_the_reply() -> None:
    context = ConversationContext("s", [SYSTEM, *turn(1), *turn(2)])
    window = count_messages([SYSTEM, *turn(2)]) + 100
    assert context.for_model(window, reserve=100) == [SYSTEM, *turn(2)]
    assert context.trimmed(10**6) == context.get_messages()
    spec = ModelSpec(name="m", provider="local", context_window=window, max_tokens=100)
    assert context.for_model(spec) == [SYSTEM, *turn(2)]
    assert context.for_model(spec, reserve=0) == context.get_messages()
    assert context.count_tokens() == count_messages(context.get_messages())


def test_counting_needs_no_network_or_cache(tmp_path: Path) -> None:
    # A dead proxy and an empty cache: any download attempt would fail.
    env = {
        **os.environ,
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "empty-cache"),
        "DATA_GYM_CACHE_DIR": str(tmp_path / "empty-cache"),
    }
    code = "from ember.ai.tokens import count_text; print(count_text('hello world'))"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"


ROLES = st.sampled_from([MessageRole.USER, MessageRole.ASSISTANT, MessageRole.SYSTEM, "call"])


@st.composite
def histories(draw: st.DrawFn) -> list[Message]:
    messages: list[Message] = []
    for n, kind in enumerate(draw(st.lists(ROLES, max_size=12))):
        text = draw(st.text(alphabet="abc xyz", max_size=30))
        if kind == "call":
            ids = [f"c{n}-{i}" for i in range(draw(st.integers(1, 3)))]
            calls = tuple(ToolCall(i, "tool", {"q": text}) for i in ids)
            messages.append(Message(MessageRole.ASSISTANT, "", tool_calls=calls))
            messages.extend(Message(MessageRole.TOOL, text, tool_call_id=i) for i in ids)
        else:
            messages.append(Message(MessageRole(kind), text))
    return messages


@settings(max_examples=150, deadline=None)
@given(histories(), st.integers(0, 400))
def test_trimming_invariants(messages: list[Message], budget: int) -> None:
    kept = trim_messages(messages, budget)
    index = {id(m): i for i, m in enumerate(messages)}
    positions = [index[id(m)] for m in kept]
    assert positions == sorted(positions)  # order kept, nothing invented
    systems = [m for m in messages if m.role is MessageRole.SYSTEM]
    assert [m for m in kept if m.role is MessageRole.SYSTEM] == systems
    non_system = [m for m in kept if m.role is not MessageRole.SYSTEM]
    if non_system:
        assert count_messages(kept) <= budget
        # The newest messages survive: what was kept runs to the end.
        tail = [m for m in messages if m.role is not MessageRole.SYSTEM][-len(non_system) :]
        assert non_system == tail
    call_ids = {c.id for m in kept for c in m.tool_calls}
    result_ids = {m.tool_call_id for m in kept if m.role is MessageRole.TOOL}
    assert result_ids <= call_ids
