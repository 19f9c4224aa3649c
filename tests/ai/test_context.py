"""ConversationContext and Message."""

from __future__ import annotations

import dataclasses

import pytest
from ember.ai import ConversationContext, Message, MessageRole
from ember.ai.tools import ToolCall


def test_messages_come_back_in_order_with_their_roles() -> None:
    context = ConversationContext()
    context.add_message(MessageRole.USER, "Hello")
    context.add_message("assistant", "Hi there!")
    assert [(m.role, m.content) for m in context.get_messages()] == [
        (MessageRole.USER, "Hello"),
        (MessageRole.ASSISTANT, "Hi there!"),
    ]


def test_get_messages_is_a_snapshot_that_survives_clear_and_adds() -> None:
    context = ConversationContext()
    context.add_message(MessageRole.USER, "Hello")
    snapshot = context.get_messages()
    context.clear()
    context.add_message(MessageRole.USER, "Other")
    assert [m.content for m in snapshot] == ["Hello"]
    snapshot.append(Message(MessageRole.USER, "mutating the copy"))
    assert len(context.get_messages()) == 1


def test_messages_are_immutable() -> None:
    message = ConversationContext().add_message(MessageRole.USER, "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.content = "y"  # type: ignore[misc]


def test_an_unknown_role_or_non_text_content_is_refused() -> None:
    context = ConversationContext()
    with pytest.raises(ValueError):
        context.add_message("wizard", "x")
    with pytest.raises(TypeError):
        context.add_message(MessageRole.USER, 3)  # type: ignore[arg-type]


def test_a_message_round_trips_through_its_dict_form() -> None:
    message = Message(
        MessageRole.ASSISTANT,
        "",
        tool_calls=(ToolCall("call_1", "weather", {"city": "Paris"}),),
    )
    result = Message(MessageRole.TOOL, '{"t": 22}', name="weather", tool_call_id="call_1")
    for original in (message, result, Message(MessageRole.USER, "hi", name="ann")):
        assert Message.from_dict(original.to_dict()) == original


def test_to_openai_uses_the_chat_completions_shape() -> None:
    context = ConversationContext()
    context.add_message(MessageRole.SYSTEM, "Be brief.")
    context.add_message(
        MessageRole.ASSISTANT, "", tool_calls=[ToolCall("call_1", "weather", {"city": "Paris"})]
    )
    context.add_message(MessageRole.TOOL, "22C", name="weather", tool_call_id="call_1")
    assert context.to_openai() == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": "22C", "tool_call_id": "call_1"},
    ]


def test_pending_tracks_appends_and_replacement_after_clear() -> None:
    context = ConversationContext("s", [Message(MessageRole.USER, "old")])
    context.add_message(MessageRole.USER, "new")
    assert context.pending() == (False, [Message(MessageRole.USER, "new")])
    context.mark_saved()
    assert context.pending() == (False, [])
    context.clear()
    context.add_message(MessageRole.SYSTEM, "reset")
    assert context.pending() == (True, [Message(MessageRole.SYSTEM, "reset")])
