"""The request object handlers receive."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import orjson

from .datastructures import URL, Headers, QueryParams
from .errors import HTTPError
from .types import Message, Receive, Scope

if TYPE_CHECKING:
    from .routing import Route

DEFAULT_MAX_BODY_SIZE = 1024 * 1024


class ClientDisconnect(Exception):
    """The client went away while the request body was being read."""


class Request:
    """One HTTP request: its scope, path parameters and (lazily) its body."""

    __slots__ = (
        "_body",
        "_disconnected",
        "_headers",
        "_json",
        "_pending",
        "_query",
        "_state",
        "max_body_size",
        "path_params",
        "receive",
        "route",
        "scope",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        path_params: dict[str, Any] | None = None,
        route: Route | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.path_params = path_params if path_params is not None else {}
        self.route = route
        self.max_body_size = max_body_size
        self._body: bytes | None = None
        self._json: Any = _UNSET
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        self._state: SimpleNamespace | None = None
        self._disconnected = False
        self._pending: list[Message] = []

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    @property
    def url(self) -> URL:
        scope = self.scope
        server = scope.get("server")
        host = self.headers.get("host")
        if host is None and server:
            host = f"{server[0]}:{server[1]}"
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope.get("root_path", "") + scope["path"]
        return URL(scope.get("scheme", "http"), host or "", path, query)

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers.from_scope(self.scope["headers"])
        return self._headers

    @property
    def query(self) -> QueryParams:
        if self._query is None:
            self._query = QueryParams.from_query_string(self.scope.get("query_string", b""))
        return self._query

    @property
    def client(self) -> tuple[str, int] | None:
        client = self.scope.get("client")
        return (client[0], client[1]) if client else None

    @property
    def state(self) -> SimpleNamespace:
        """Per-request scratch space for middleware, plugins and handlers."""
        if self._state is None:
            self._state = self.scope.setdefault("state", SimpleNamespace())
            if isinstance(self._state, dict):  # a server may hand a dict: wrap it
                self._state = SimpleNamespace(**self._state)
                # ...and keep the wrapper, so middleware sees what handlers set.
                self.scope["state"] = self._state
        return self._state

    async def body(self) -> bytes:
        """The whole body, refused with 413 once it passes ``max_body_size``.

        A ``Content-Length`` above the limit is refused before a byte is read.
        """
        if self._body is not None:
            return self._body
        limit = self.max_body_size
        declared = _content_length(self.scope["headers"])
        if declared is not None and declared > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = self._pending.pop(0) if self._pending else await self.receive()
            if message["type"] == "http.disconnect":
                self._disconnected = True
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        """The body parsed as JSON (orjson); malformed JSON is a 400 error."""
        if self._json is _UNSET:
            body = await self.body()
            try:
                self._json = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                detail = "the body is empty" if not body else str(exc)
                raise HTTPError(
                    400, f"Malformed JSON in request body: {detail}", code="invalid_json"
                ) from None
        return self._json

    async def is_disconnected(self) -> bool:
        """Whether the client has gone away, checked without waiting."""
        if self._disconnected:
            return True
        try:
            message = await asyncio.wait_for(self.receive(), timeout=0.0001)
        except TimeoutError:
            return False
        if message["type"] == "http.disconnect":
            self._disconnected = True
        elif self._body is None:
            # A body chunk not read yet: keep it for body().
            self._pending.append(message)
        return self._disconnected

    def __repr__(self) -> str:
        return f"<Request {self.scope.get('method')} {self.scope.get('path')}>"


class _Unset:
    pass


_UNSET: Any = _Unset()


def _content_length(raw_headers: list[tuple[bytes, bytes]]) -> int | None:
    # Read straight from the scope: building ``Request.headers`` for this one
    # header is a noticeable share of a small JSON request's cost.
    for name, value in raw_headers:
        # Servers send lower-case names; the length test spares a lower() per header.
        if len(name) == 14 and name.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _too_large(limit: int) -> HTTPError:
    return HTTPError(
        413,
        f"Request body is larger than the limit of {limit} bytes.",
        code="request_too_large",
    )


__all__ = ["ClientDisconnect", "Request"]
