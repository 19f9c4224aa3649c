"""Who a request is charged to: its client key.

A key is one of:

- ``"api_key"`` (default): the bearer token of ``Authorization``, else
  ``x-api-key`` / ``api-key``; without one, the client IP. The key itself is
  never stored, logged or sent: budgets are named by a SHA-256 digest of it.
- ``"ip"``: the peer address. ``X-Forwarded-For`` is believed only when the
  peer is one of ``trusted_proxies`` (addresses or networks); then the
  right-most address that is not a trusted proxy is the client.
- ``"header:<name>"``: the value of a header, e.g. ``"header:x-user-id"``.
- a function ``(scope) -> str | None``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from ember.types import Scope

KeyFunction = Callable[[Scope], str]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:24]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def parse_networks(proxies: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(scope: Scope, trusted: tuple[Network, ...]) -> str:
    """The client's address, following ``X-Forwarded-For`` only through trusted proxies."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not trusted or not _trusted(peer, trusted):
        return peer
    forwarded = _header(scope, b"x-forwarded-for")
    if not forwarded:
        return peer
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    # Walk from the nearest hop: each trusted proxy vouches for the one before it.
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _api_key(scope: Scope) -> str | None:
    authorization = _header(scope, b"authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return _header(scope, b"x-api-key") or _header(scope, b"api-key")


def key_function(
    spec: str | Callable[[Scope], Any], trusted_proxies: Iterable[str] = ()
) -> KeyFunction:
    """Turn a key spec (see the module docstring) into ``(scope) -> key``."""
    trusted = parse_networks(trusted_proxies)

    def by_ip(scope: Scope) -> str:
        return "ip:" + client_ip(scope, trusted)

    if callable(spec):
        custom = spec

        def by_function(scope: Scope) -> str:
            value = custom(scope)
            return "fn:" + _digest(str(value)) if value else by_ip(scope)

        return by_function
    if spec == "ip":
        return by_ip
    if spec == "api_key":

        def by_api_key(scope: Scope) -> str:
            key = _api_key(scope)
            return "key:" + _digest(key) if key else by_ip(scope)

        return by_api_key
    if spec.startswith("header:") and spec[7:]:
        name = spec[7:].strip().lower().encode("latin-1")

        def by_header(scope: Scope) -> str:
            value = _header(scope, name)
            return "hdr:" + _digest(value) if value else by_ip(scope)

        return by_header
    raise ValueError(
        f"key must be 'api_key', 'ip', 'header:<name>' or a function of the scope; got {spec!r}"
    )


__all__ = ["client_ip", "key_function", "parse_networks"]
