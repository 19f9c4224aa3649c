"""``app.ai_route``: a route whose handler gets a session's conversation.

One request to an ai_route is one *turn* of a session:

1. The session id comes from the session header (``X-Session-ID``). An id
   that is missing, malformed, unknown or issued to another principal gets a
   fresh session with a new server-issued id; the response always carries it.
2. A request with ``Last-Event-ID`` resumes that session's latest stream
   instead (see ``streams``): the handler is not called.
3. The session's lock is taken (turns of one session never interleave), the
   history is loaded into a ``ConversationContext`` and the handler runs.
4. A plain response saves what the turn added and is sent. An SSE response
   (``sse_stream``, ``SSEResponse``, or a bare async generator of tokens) is
   streamed by a background task; the messages the handler added are saved
   at the first event and the reply text when the stream ends, then the lock
   is released. An error before the first event is a JSON error and saves
   nothing. A reply whose client left and did not resume within
   ``resume_grace`` seconds is stopped; its text so far is saved.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
from ember.errors import ConfigError, HTTPError, error_envelope
from ember.records import Injectable
from ember.requests import ClientDisconnect, Request
from ember.responses import JSONResponse, Response, error_response
from ember.sse import SSEResponse, TokenStreamResponse

from . import streams
from .context import ConversationContext, MessageRole
from .sessions import (
    MemorySessionStore,
    SessionBusy,
    SessionStore,
    SessionStoreUnavailable,
    is_session_id,
    new_session_id,
    store_key,
)
from .tools import ToolRegistry

if TYPE_CHECKING:
    from ember.app import Ember
    from ember.routing import Endpoint, Route

logger = logging.getLogger("ember.ai")

F = TypeVar("F", bound=Callable[..., Any])

PrincipalResolver = Callable[[Request], "str | Awaitable[str | None] | None"]


@dataclass
class AISettings:
    """ember-ai's per-app state, made once when the app is built."""

    store: SessionStore
    header: str = "X-Session-ID"
    lock_wait: float = 30.0
    stream_idle_timeout: float = 60.0
    resume_grace: float | None = 15.0  # see streams.StreamTurn
    resolvers: list[PrincipalResolver] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def principal(self, request: Request) -> str | None:
        for resolve in self.resolvers:
            found = resolve(request)
            if inspect.isawaitable(found):
                found = await found
            if found:
                return str(found)
        return None


@dataclass(frozen=True)
class AIRouteConfig:
    """What ``ai_route`` hands its route (the ``ai_route`` route option)."""

    streaming: bool
    tool_registry: ToolRegistry | None


@dataclass
class _Turn:
    context: ConversationContext


def settings_of(app: Ember) -> AISettings:
    """ember-ai's settings of ``app`` (its session store, header...)."""
    settings: AISettings = app.state.ember_ai
    return settings


def session_store(app: Ember) -> SessionStore:
    """The session store ``app``'s ai_routes use."""
    return settings_of(app).store


def make_settings(app: Ember) -> AISettings:
    options = app.options
    store = options.get("session_store")
    if store is None:  # not ``or``: an empty MemorySessionStore is falsy (it has a length)
        store = MemorySessionStore()
    resolvers = [r for r in app.plugin_manager.hook.ember_ai_principal(app=app) if r is not None]
    return AISettings(
        store=store,
        header=options.get("session_header") or "X-Session-ID",
        lock_wait=float(options.get("session_lock_wait") or 30.0),
        resume_grace=options.get("resume_grace", 15.0),
        resolvers=resolvers,
    )


# ---------------------------------------------------------------- registration


def make_ai_route(app: Ember) -> Callable[..., Callable[[F], F]]:
    def ai_route(
        path: str,
        methods: Iterable[str] = ("POST",),
        *,
        streaming: bool = False,
        token_limits: Any = None,
        tool_registry: ToolRegistry | None = None,
        name: str | None = None,
        max_body_size: int | None = None,
        **route_options: Any,
    ) -> Callable[[F], F]:
        """Register an AI endpoint; see ``ember.ai.routes``.

        The handler may ask for ``context: ConversationContext``, ``model_router:
        ModelRouter`` (from ``Ember(model_router=...)``) and, when
        ``tool_registry`` is given, ``tools``/``tool_registry: ToolRegistry`` -- by
        name or by annotation. ``token_limits`` goes to ember-ratelimit.
        """
        if tool_registry is not None and not isinstance(tool_registry, ToolRegistry):
            raise ConfigError(f"tool_registry must be a ToolRegistry, not {tool_registry!r}")

        def decorator(handler: F) -> F:
            _check_router_available(app, handler)
            app.add_route(
                path,
                _adapt(handler),
                methods,
                name=name or getattr(handler, "__name__", None),
                max_body_size=max_body_size,
                injectables=_injectables(app, tool_registry),
                token_limits=token_limits,
                ai_route=AIRouteConfig(streaming, tool_registry),
                **route_options,
            )
            return handler

        return decorator

    return ai_route


def _current_context(request: Request) -> ConversationContext:
    turn: _Turn = request.state.ember_ai_turn
    return turn.context


def _injectables(app: Ember, tools: ToolRegistry | None) -> list[Injectable]:
    from .router import ModelRouter

    router = app.options.get("model_router")
    found = [
        Injectable("context", _current_context, ConversationContext, "the session's history"),
        Injectable("model_router", lambda _request: router, ModelRouter, "the app's ModelRouter"),
    ]
    if tools is not None:
        found.append(Injectable("tools", lambda _request: tools, ToolRegistry, "the tools"))
        found.append(Injectable("tool_registry", lambda _request: tools, None, "the tools"))
    return found


def _check_router_available(app: Ember, handler: Callable[..., Any]) -> None:
    if app.options.get("model_router") is not None:
        return
    for parameter in inspect.signature(handler).parameters.values():
        annotation = parameter.annotation
        text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
        if parameter.name == "model_router" or str(text).endswith("ModelRouter"):
            raise ConfigError(
                f"handler {handler.__qualname__} asks for {parameter.name!r}, a ModelRouter, "
                "but the app has none: pass Ember(model_router=ModelRouter(...))"
            )


def _adapt(handler: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """The handler, returning a token stream for a bare async generator.

    ``functools.wraps`` keeps the signature visible, so the injection plan is
    built from the user's parameters.
    """
    is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004
    )
    is_generator = inspect.isasyncgenfunction(handler)

    @functools.wraps(handler)
    async def call(*args: Any, **kwargs: Any) -> Any:
        if is_async:
            result = await handler(*args, **kwargs)
        elif is_generator:
            result = handler(*args, **kwargs)
        else:
            result = await anyio.to_thread.run_sync(functools.partial(handler, *args, **kwargs))
        if isinstance(result, AsyncIterator) and not isinstance(result, Response):
            return TokenStreamResponse(result)
        return result

    return call


# ---------------------------------------------------------------- serving a turn


def wrap(app: Ember, route: Route, endpoint: Endpoint) -> Endpoint:
    settings = settings_of(app)
    header = settings.header.lower()

    async def ai_endpoint(request: Request) -> Response:
        try:
            session_id, key, fresh = await _session_for(settings, request, header)
            last_event_id = request.headers.get("last-event-id")
            if last_event_id is not None and not fresh:
                response = await _resume(settings, key, last_event_id)
            else:
                response = await _turn(app, settings, request, endpoint, session_id, key)
        except SessionStoreUnavailable as exc:
            _log_store_outage(exc)
            return error_response(streams.store_unavailable(exc))
        response.headers[header] = session_id
        return response

    return ai_endpoint


async def _session_for(
    settings: AISettings, request: Request, header: str
) -> tuple[str, str, bool]:
    """``(session id, store key, fresh)``: the offered session if it exists for
    this principal, else a new one."""
    principal = await settings.principal(request)
    offered = request.headers.get(header)
    if offered and is_session_id(offered):
        key = store_key(offered, principal)
        if await settings.store.exists(key):
            return offered, key, False
    session_id = new_session_id()
    key = store_key(session_id, principal)
    await settings.store.create(key)
    return session_id, key, True


async def _resume(settings: AISettings, key: str, last_event_id: str) -> Response:
    try:
        last = streams.parse_last_event_id(last_event_id)
        events = await streams.replay(settings.store, key, last, settings.stream_idle_timeout)
    except HTTPError as error:
        return error_response(error)
    return SSEResponse(events)


async def _turn(
    app: Ember,
    settings: AISettings,
    request: Request,
    endpoint: Endpoint,
    session_id: str,
    key: str,
) -> Response:
    """Run the handler under the session's lock; save what the turn added."""
    store = settings.store
    try:
        lease = await store.acquire(key, settings.lock_wait)
    except SessionBusy:
        busy = HTTPError(
            409,
            "Another request of this session is still running; retry when it ends.",
            code="session_busy",
            headers={"retry-after": "1"},
        )
        return error_response(busy)
    handed_off = False
    try:
        context = ConversationContext(session_id, await store.load(key) or [])
        request.state.ember_ai_turn = _Turn(context)
        try:
            response = await endpoint(request)
            if not isinstance(response, SSEResponse):
                await _save_or_log(store, key, context)
                return response
            # Pull the first event here: a failure before it is a plain JSON error.
            first, rest = await streams.first_block(response)
        except HTTPError as error:
            return error_response(error)
        except ClientDisconnect:
            raise
        except Exception as exc:
            return _unhandled(app, request, exc)
        try:
            await _save(store, key, context)
        except SessionStoreUnavailable:
            # Nothing is sent yet, and the stream could be neither buffered nor
            # recorded: stop the producer (and its upstream call) and say so.
            await rest.aclose()
            raise

        async def finish(text: str) -> None:
            try:
                if text:
                    context.add_message(MessageRole.ASSISTANT, text)
                await _save(store, key, context)
            finally:
                await lease.release()

        turn = streams.StreamTurn(store, key, grace=settings.resume_grace)
        task = turn.start(first, rest, finish)
        settings.tasks.add(task)
        task.add_done_callback(settings.tasks.discard)
        handed_off = True  # the task releases the lock when the reply is recorded
        return SSEResponse(turn.tail(), status_code=response.status_code, headers=response.headers)
    finally:
        if not handed_off:
            await lease.release()


async def _save(store: SessionStore, key: str, context: ConversationContext) -> None:
    replace, messages = context.pending()
    if replace or messages:
        await store.save(key, messages, replace=replace)
    context.mark_saved()


async def _save_or_log(store: SessionStore, key: str, context: ConversationContext) -> None:
    """Save a plain response's turn; if the store fails now, the handler has
    already run (and may have paid for a model call): the client still gets
    its answer, and the log says the turn was not kept."""
    try:
        await _save(store, key, context)
    except SessionStoreUnavailable as exc:
        logger.error("an ai_route turn was answered but not saved: %s", exc)


_last_outage_log = 0.0


def _log_store_outage(exc: SessionStoreUnavailable) -> None:
    global _last_outage_log
    now = time.monotonic()
    if now - _last_outage_log >= 10.0:  # one line per outage burst, not one per request
        _last_outage_log = now
        logger.error("ai_route answered 503: %s", exc)


def _unhandled(app: Ember, request: Request, exc: Exception) -> Response:
    # The same answer the core gives, so the session header can be added.
    handled = app.plugin_manager.hook.ember_handle_exception(request=request, exc=exc)
    if isinstance(handled, Response):
        return handled
    logger.error("unhandled error in %s %s", request.method, request.path, exc_info=exc)
    body = error_envelope(
        "The server had an error while processing your request.", "server_error", "internal_error"
    )
    if app.debug:
        body["error"]["traceback"] = "".join(traceback.format_exception(exc))
    return JSONResponse(body, status_code=500)


async def shutdown(app: Ember) -> None:
    """Stop streams still running (their partial replies are saved)."""
    settings = settings_of(app)
    tasks: Sequence[asyncio.Task[None]] = list(settings.tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await settings.store.close()


__all__ = ["AIRouteConfig", "AISettings", "make_ai_route", "session_store", "settings_of", "wrap"]
