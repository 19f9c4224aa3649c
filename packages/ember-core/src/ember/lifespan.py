"""Start-up and shutdown: the ASGI lifespan protocol and the order of work.

Start-up runs plugin ``ember_startup`` work, then the user's ``on_startup``
handlers, then enters the user's ``lifespan`` context. Shutdown undoes that in
reverse: the ``lifespan`` context exits, ``on_shutdown`` handlers run, then
plugin ``ember_shutdown`` work. A start-up failure is reported to the server,
which then refuses to serve; a shutdown failure is logged and the rest of the
shutdown still runs.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .types import Receive, Send

logger = logging.getLogger("ember")


class StartupError(Exception):
    """Raise from start-up work to stop the server with just this message."""


async def call_maybe_async(callback: Callable[[], Any]) -> None:
    result = callback()
    if inspect.isawaitable(result):
        await result


async def run_lifespan(
    startup: Callable[[], Awaitable[None]],
    shutdown: Callable[[], Awaitable[None]],
    receive: Receive,
    send: Send,
) -> None:
    """Speak the ASGI lifespan protocol around ``startup`` and ``shutdown``."""
    message = await receive()
    assert message["type"] == "lifespan.startup"
    try:
        await startup()
    except StartupError as exc:
        logger.error("start-up failed: %s", exc)
        await send({"type": "lifespan.startup.failed", "message": str(exc)})
        return
    except BaseException as exc:
        logger.exception("start-up failed")
        await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
        return
    await send({"type": "lifespan.startup.complete"})
    message = await receive()
    assert message["type"] == "lifespan.shutdown"
    try:
        await shutdown()
    except BaseException as exc:
        logger.exception("shutdown failed")
        await send({"type": "lifespan.shutdown.failed", "message": f"{type(exc).__name__}: {exc}"})
        return
    await send({"type": "lifespan.shutdown.complete"})


async def run_all(callbacks: list[Callable[[], Any]], what: str) -> None:
    """Run every shutdown callback even when one fails; log the failures."""
    for callback in callbacks:
        try:
            await call_maybe_async(callback)
        except Exception:
            logger.exception("%s %r failed", what, callback)


@contextlib.asynccontextmanager
async def no_lifespan(app: Any) -> Any:
    yield


__all__ = ["StartupError", "call_maybe_async", "run_all", "run_lifespan"]
