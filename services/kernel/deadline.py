"""Deadlines: a service gives up on a write before its caller gives up on the service.

Without one, a caller that timed out (the gateway answers 503, "retry") could still see its
write commit later, and a retry would then write it twice. So the caller sends the time it
will wait (`X-Zhihui-Budget-Ms`, kept below its own timeout by `BUDGET_MARGIN`); the service
bounds every lock wait and statement of the request's transaction by what is left (SQLite
`busy_timeout`, PostgreSQL `lock_timeout` and `statement_timeout`) and refuses to commit once
the deadline has passed (503, nothing written). A write therefore commits before its caller
has its answer, or never.

Only unsafe methods carry a deadline: reads have nothing to leave half-done.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

from starlette.types import ASGIApp
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from services.kernel.errors import ServiceUnavailable

BUDGET_HEADER = "X-Zhihui-Budget-Ms"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Kept for the commit and the answer's way back: a fifth of the caller's timeout, ≥ 1 s.
MIN_MARGIN_SECONDS = 1.0
MARGIN_SHARE = 0.2
# Floor of a lock wait, so a nearly spent budget still gets one short try.
MIN_WAIT_MS = 50

_deadline: ContextVar[float | None] = ContextVar("zhihui_deadline", default=None)


def budget_ms(caller_timeout_seconds: float) -> int:
    """What a caller waiting `caller_timeout_seconds` allows the service to spend."""
    margin = max(MIN_MARGIN_SECONDS, caller_timeout_seconds * MARGIN_SHARE)
    return max(0, int((caller_timeout_seconds - margin) * 1000))


def current_deadline() -> float | None:
    """The request's deadline (`time.monotonic()` scale), if it has one."""
    return _deadline.get()


def remaining_ms() -> int | None:
    """Milliseconds left before the request's deadline (at least `MIN_WAIT_MS`), or None."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    return max(MIN_WAIT_MS, int((deadline - time.monotonic()) * 1000))


class DeadlineExceeded(ServiceUnavailable):
    """The caller's budget ran out before the write could commit; nothing was written."""

    def __init__(self) -> None:
        super().__init__(
            "The write could not be completed in time (the records it needs are busy) and "
            "nothing was written; retry in a few seconds (a POST with the same "
            "Idempotency-Key).",
            headers={"Retry-After": "2"},
        )


def ensure_before_deadline() -> None:
    """Raise `DeadlineExceeded` if the request's deadline has passed (call before COMMIT)."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineExceeded()


class DeadlineMiddleware:
    """Reads the caller's budget on unsafe requests and sets the request's deadline."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        deadline = _parse_budget(scope)
        token = _deadline.set(deadline)
        try:
            await self.app(scope, receive, send)
        finally:
            _deadline.reset(token)


def _parse_budget(scope: Scope) -> float | None:
    raw = BUDGET_HEADER.lower().encode()
    for key, value in scope.get("headers", []):
        if key.lower() == raw and value.isdigit() and len(value) <= 9:
            return time.monotonic() + int(value) / 1000
    return None
