"""Every exception Ember raises, and the JSON error envelope.

    EmberError
    ├── HTTPError              an HTTP error answered to the client as JSON
    ├── ConfigError            the app or a route was set up wrongly
    └── PluginError
        ├── PluginLoadError      an entry point failed to import
        └── PluginConflictError  two plugins claim the same name

Every error body sent to a client has the OpenAI envelope,
``{"error": {"message", "type", "param", "code"}}``, so that OpenAI SDKs and
gateways parse Ember's errors like the upstream APIs' own.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

# The OpenAI API answers every 4xx with type "invalid_request_error"; the code
# says what went wrong. Ember keeps that convention.
_DEFAULT_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "unknown_url"),
    405: ("invalid_request_error", "method_not_allowed"),
    408: ("invalid_request_error", "request_timeout"),
    413: ("invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    422: ("invalid_request_error", "invalid_value"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "gateway_timeout"),
}


class EmberError(Exception):
    """Base class of every error Ember raises."""


class HTTPError(EmberError):
    """Raise from a handler to answer with ``status`` and a JSON error body.

    ``type`` and ``code`` default to what the OpenAI API uses for the status.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        default_type, default_code = _DEFAULT_TYPES.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        self.status = status
        self.message = message
        self.type = type or default_type
        self.code = code if code is not None else default_code
        self.param = param
        self.headers = dict(headers or {})

    def to_dict(self) -> dict[str, dict[str, str | None]]:
        """The error in the OpenAI envelope."""
        return error_envelope(self.message, self.type, self.code, self.param)

    def __repr__(self) -> str:
        return f"HTTPError({self.status}, {self.message!r}, code={self.code!r})"


class ConfigError(EmberError, TypeError):
    """The app, a route or a plugin option was configured wrongly."""


class PluginError(EmberError):
    """Base class of plugin loading and wiring errors."""


class PluginLoadError(PluginError):
    """An entry point of group ``ember`` failed to import or register."""


class PluginConflictError(PluginError):
    """Two plugins provide the same option, decorator, injectable or export."""


def error_envelope(
    message: str, type: str, code: str | None = None, param: str | None = None
) -> dict[str, dict[str, str | None]]:
    """Build ``{"error": {...}}`` as the OpenAI API shapes it."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_body(error: HTTPError) -> bytes:
    try:
        return orjson.dumps(error.to_dict())
    except TypeError:
        # A message quoting undecodable input (lone surrogates, from a server
        # that decodes paths with surrogateescape) is not UTF-8: replace those.
        fields = error.to_dict()["error"]
        clean = {
            key: value.encode("utf-8", "replace").decode("utf-8") if value else value
            for key, value in fields.items()
        }
        return orjson.dumps({"error": clean})


__all__ = [
    "ConfigError",
    "EmberError",
    "HTTPError",
    "PluginConflictError",
    "PluginError",
    "PluginLoadError",
    "error_envelope",
]
