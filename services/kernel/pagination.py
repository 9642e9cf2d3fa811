"""The list envelope every list endpoint returns, and opaque keyset cursors."""

from __future__ import annotations

import base64
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, Field

from services.kernel.errors import BadRequest, FieldError

T = TypeVar("T")

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


class ListMeta(BaseModel):
    count: int | None = Field(None, description="Total matching records, when known.")
    page: int | None = Field(None, description="Page number (1-based) when paging by page.")
    page_size: int = Field(DEFAULT_PAGE_SIZE, description="Records per page (1–100).")
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null at the end."
    )
    took_ms: int | None = Field(None, description="Server time spent, in milliseconds.")


class ListEnvelope(BaseModel, Generic[T]):
    """`{"meta": {...}, "results": [...]}`: the shape of every list response."""

    meta: ListMeta
    results: list[T]


def encode_cursor(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """Decode a cursor this API issued; a tampered or foreign one is a 400."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(value, dict):
            raise ValueError
        return value
    except ValueError as exc:
        raise BadRequest(
            "cursor is not one this API issued; start again with no cursor (or cursor=*) and "
            "follow meta.next_cursor.",
            errors=[FieldError(("query", "cursor"), "invalid cursor", "value_error")],
        ) from exc
