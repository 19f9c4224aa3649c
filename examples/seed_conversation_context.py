# The seed's "ConversationContext" sample uses a `context` that ai_route()
# injects into handlers; outside a handler this line creates one.
from ember import ConversationContext

context = ConversationContext()

from ember import ConversationContext, MessageRole

context.add_message(MessageRole.USER, "Hello")
context.add_message(MessageRole.ASSISTANT, "Hi there!")
context.add_message(MessageRole.SYSTEM, "You are a helpful assistant.")
messages = context.get_messages()  # list[Message]
context.clear()  # reset history

if __name__ == "__main__":
    for message in messages:
        print(f"{message.role.value}: {message.content}")
    print(f"after clear: {len(context.get_messages())} messages")
