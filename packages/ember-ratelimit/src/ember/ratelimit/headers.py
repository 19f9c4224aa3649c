"""What clients see: ``x-ratelimit-*`` headers and the refusals' JSON bodies.

Headers follow OpenAI's: ``x-ratelimit-limit-tokens``, ``-remaining-tokens``
and ``-reset-tokens`` (a Go-style duration such as ``12ms`` or ``6m0s``: the
time until the bucket is full again). Refusals use the OpenAI error envelope:
429 ``rate_limit_exceeded`` (type ``tokens`` or ``requests``) with
``Retry-After``, and 413 ``request_too_large`` for a request that can never
fit -- no retry hint, since waiting cannot help.
"""

from __future__ import annotations

import functools
import math

from ember.errors import HTTPError

Headers = tuple[tuple[bytes, bytes], ...]


def go_duration(seconds: float) -> str:
    """Format like Go's ``time.Duration.String()``, to the millisecond."""
    return _go_duration_ms(max(0, round(seconds * 1000)))


def _go_duration_ms(milliseconds: int) -> str:
    if milliseconds < 1000:
        return f"{milliseconds}ms" if milliseconds else "0s"
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, fraction = divmod(rest, 1000)
    if hours:
        return f"{hours}h{minutes}m{whole}{_FRACTIONS[fraction]}s"
    if minutes:
        return f"{minutes}m{whole}{_FRACTIONS[fraction]}s"
    return f"{whole}{_FRACTIONS[fraction]}s"


# Milliseconds as Go writes them after the seconds: "", ".5", ".25", ".125", ...
_FRACTIONS = tuple(f".{n:03d}".rstrip("0").rstrip(".") for n in range(1000))


def token_headers(limit: float, remaining: float, reset: float) -> Headers:
    # The headers say whole tokens and milliseconds, so consecutive requests
    # often say the same thing (a full bucket always does): the last answer is kept.
    global _last
    whole = math.floor(remaining) if remaining > 0 else 0
    reset_ms = -1 if reset == math.inf else max(0, round(reset * 1000))
    said = (limit, whole, reset_ms)
    last = _last
    if last[0] == said:
        return last[1]
    if reset_ms < 0:  # a budget that never refills has no reset time
        headers: Headers = (_limit_header(limit), (_REMAINING, b"%d" % whole))
    else:
        headers = (
            _limit_header(limit),
            (_REMAINING, b"%d" % whole),
            (_RESET, _go_duration_ms(reset_ms).encode()),
        )
    _last = (said, headers)  # one assignment: safe for threads
    return headers


_REMAINING = b"x-ratelimit-remaining-tokens"
_RESET = b"x-ratelimit-reset-tokens"
_last: tuple[tuple[float, int, int], Headers] = ((-1.0, 0, 0), ())


@functools.lru_cache(maxsize=256)
def _limit_header(limit: float) -> tuple[bytes, bytes]:
    return (b"x-ratelimit-limit-tokens", b"%d" % limit)


def retry_headers(seconds: float) -> dict[str, str]:
    if seconds == math.inf:
        return {}
    return {
        "retry-after": str(max(1, math.ceil(seconds))),
        "retry-after-ms": str(max(1, math.ceil(seconds * 1000))),
    }


def too_many_tokens(
    label: str, limit: float, remaining: float, requested: int, retry: float
) -> HTTPError:
    return HTTPError(
        429,
        f"Rate limit reached on tokens per min (TPM) of the {label} budget: Limit {int(limit)}, "
        f"Remaining {max(0, math.floor(remaining))}, Requested {requested}. "
        + (
            f"Please try again in {go_duration(retry)}."
            if retry != math.inf
            else "This budget does not refill."
        ),
        type="tokens",
        code="rate_limit_exceeded",
        headers=retry_headers(retry),
    )


def too_many_requests(limit: int) -> HTTPError:
    return HTTPError(
        429,
        f"Rate limit reached on concurrent requests: Limit {limit}. "
        f"Please try again when one of your requests has finished.",
        type="requests",
        code="rate_limit_exceeded",
        headers=retry_headers(1.0),
    )


def request_too_large(label: str, limit: float, requested: int) -> HTTPError:
    return HTTPError(
        413,
        f"Request too large for the {label} budget: Limit {int(limit)}, Requested {requested}. "
        f"The input or output tokens must be reduced in order to run successfully.",
        type="tokens",
        code="request_too_large",
    )


def prompt_too_long(limit: int, estimated: int) -> HTTPError:
    return HTTPError(
        400,
        f"The prompt is too long for this endpoint: Limit {limit} tokens, estimated {estimated}. "
        f"Shorten the messages.",
        type="invalid_request_error",
        code="prompt_too_long",
        param="messages",
    )


def limiter_unavailable() -> HTTPError:
    return HTTPError(
        503,
        "The rate limiter is unavailable, so the request cannot be admitted. Please retry.",
        type="server_error",
        code="rate_limiter_unavailable",
        headers={"retry-after": "1"},
    )


__all__ = ["go_duration", "retry_headers", "token_headers"]
