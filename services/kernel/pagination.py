"""The list envelope every list endpoint returns, and opaque keyset cursors."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated
from typing import Any
from typing import Generic
from typing import Protocol
from typing import TypeVar

import orjson
from fastapi import Depends
from fastapi import Query
from pydantic import BaseModel
from pydantic import Field

from services.kernel.errors import BadRequest
from services.kernel.errors import FieldError

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
    matching: str | None = Field(
        None,
        description="With `q`: `all` when every token of every word was required; `most` when "
        "a word of three or more tokens matched by all but one (exact and complete matches "
        "rank first). Counts and facets follow the same rule.",
        examples=["most"],
    )


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


# The query parameters of every keyset-paged list endpoint.
CursorQuery = Annotated[str | None, Query(description="`meta.next_cursor` of the previous page.")]
PageSizeQuery = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
IdsQuery = Annotated[str | None, Query(description="Comma-separated IDs to fetch at once (≤ 100).")]


def cursor_after(cursor: str | None) -> Any:
    """The `after` position of a cursor this API issued; None without one (the first page)."""
    return decode_cursor(cursor).get("after") if cursor else None


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ListRequest:
    """A list request: some records by ID (`ids`), or a page of records in ID order."""

    ids: list[str] | None
    after: str | None
    page_size: int

    def meta(self, records: Sequence[_HasId]) -> ListMeta:
        """The envelope's meta; a full page in ID order gets a cursor after its last record."""
        full_page = self.ids is None and len(records) == self.page_size
        next_cursor = encode_cursor({"after": records[-1].id}) if full_page else None
        return ListMeta(page_size=self.page_size, next_cursor=next_cursor)


def list_request(
    cursor: CursorQuery = None,
    page_size: PageSizeQuery = DEFAULT_PAGE_SIZE,
    ids: IdsQuery = None,
) -> ListRequest:
    """`?ids=a,b,c` (at most 100) or `?cursor=…&page_size=…`; a bad cursor or too many IDs: 400."""
    id_list = [i.strip() for i in ids.split(",") if i.strip()] if ids is not None else None
    if id_list is not None and len(id_list) > MAX_PAGE_SIZE:
        raise BadRequest(f"ids: at most {MAX_PAGE_SIZE} IDs per request; split the list.")
    return ListRequest(ids=id_list, after=cursor_after(cursor), page_size=page_size)


ListQuery = Annotated[ListRequest, Depends(list_request)]
