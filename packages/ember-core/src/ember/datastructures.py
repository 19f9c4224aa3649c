"""Read-only multi-value mappings for headers and query parameters."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl


class MultiDict(Mapping[str, str]):
    """A mapping whose lookups give the first value; ``getlist`` gives all."""

    __slots__ = ("_first", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = list(items)
        first: dict[str, str] = {}
        for key, value in self._items:
            first.setdefault(key, value)
        self._first = first

    def __getitem__(self, key: str) -> str:
        return self._first[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def getlist(self, key: str) -> list[str]:
        return [value for item_key, value in self._items if item_key == key]

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"


class Headers(MultiDict):
    """Request headers; names are case-insensitive (stored lower-case)."""

    __slots__ = ()

    @classmethod
    def from_scope(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        # ASGI servers lower-case names already; latin-1 is HTTP's byte-safe decoding.
        return cls((name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in raw)

    def __getitem__(self, key: str) -> str:
        return self._first[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._first

    def getlist(self, key: str) -> list[str]:
        return super().getlist(key.lower())

    def __repr__(self) -> str:
        # Never show credentials in a repr that may end up in a log.
        shown = [(k, "<redacted>" if k in _SECRET_HEADERS else v) for k, v in self._items]
        return f"Headers({shown!r})"


_SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "cookie", "proxy-authorization"}
)


class QueryParams(MultiDict):
    """Query-string parameters, decoded as UTF-8 with bad bytes replaced."""

    __slots__ = ()

    @classmethod
    def from_query_string(cls, query_string: bytes) -> QueryParams:
        # Raw bytes that are not UTF-8 and %-escapes of invalid UTF-8 both become
        # U+FFFD rather than an error: a query string is user input, not code.
        text = query_string.decode("utf-8", "replace")
        return cls(parse_qsl(text, keep_blank_values=True, errors="replace"))


@dataclass(frozen=True, slots=True)
class URL:
    """The parts of a request's URL."""

    scheme: str
    netloc: str
    path: str
    query: str

    def __str__(self) -> str:
        query = f"?{self.query}" if self.query else ""
        return f"{self.scheme}://{self.netloc}{self.path}{query}"


__all__ = ["URL", "Headers", "MultiDict", "QueryParams"]
