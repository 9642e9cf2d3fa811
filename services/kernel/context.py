"""Per-request context (request ID) carried through logs, errors and outgoing calls."""

from __future__ import annotations

from contextvars import ContextVar
from contextvars import Token

_request_id: ContextVar[str | None] = ContextVar("zhihui_request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> Token[str | None]:
    return _request_id.set(value)


def reset_request_id(token: Token[str | None]) -> None:
    _request_id.reset(token)
