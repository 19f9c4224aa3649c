"""A pure ASGI middleware that adds an ``x-hello`` header to every response."""

from __future__ import annotations

from ember.types import ASGIApp, Message, Receive, Scope, Send


class HelloHeaderMiddleware:
    """Adds ``x-hello: <greeting>`` to HTTP responses.

    Only the ``http.response.start`` message is touched; body messages are
    passed on one by one as they come, so a stream stays a stream.
    """

    def __init__(self, app: ASGIApp, greeting: str = "Hello") -> None:
        self.app = app
        self.header = (b"x-hello", greeting.encode("utf-8"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self.header]
            await send(message)

        await self.app(scope, receive, send_with_header)
