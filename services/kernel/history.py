"""Who changed what and when: one `history` row per write of a record, in the same transaction.

The change feed says what a record is now (for the index); the history says how it got there:
the actor (role, organisation, API key ID), the request ID, and for each changed field its
value before and after. It is written by the kernel's write steps (kernel/service.py), so
every library that writes through them keeps it, and read by admins and the owning
organisation's editors (`GET /{library}/{id}/history`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Annotated
from typing import Any
from typing import Literal

from fastapi import Depends
from fastapi import Query
from pydantic import BaseModel
from pydantic import Field
from sqlalchemy import BigInteger
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from services.kernel.context import current_request_id
from services.kernel.db import JSONType
from services.kernel.db import UTCDateTime
from services.kernel.db import utcnow
from services.kernel.internal_auth import Actor

HistoryOp = Literal["create", "update", "delete"]
MAX_HISTORY_PAGE = 100


class HistoryMixin:
    """Columns of a service's `history` table: one write of one record."""

    __tablename__ = "history"

    if TYPE_CHECKING:
        # Mixed into declarative models, whose constructor takes column values by name.
        def __init__(self, **kwargs: Any) -> None: ...

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    record_id: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer)
    op: Mapped[str] = mapped_column(String(8))
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_org: Mapped[str | None] = mapped_column(String(64), default=None)
    actor_key_id: Mapped[str | None] = mapped_column(String(64), default=None)
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # {field: {"before": value, "after": value}}: the fields the write changed, as JSON.
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def _plain(value: Any) -> Any:
    """A column value as JSON keeps it (dates as ISO strings)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def field_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """`{field: {"before": …, "after": …}}` for the fields whose values differ."""
    old, new = before or {}, after or {}
    return {
        name: {"before": _plain(old.get(name)), "after": _plain(new.get(name))}
        for name in dict.fromkeys([*old, *new])
        if _plain(old.get(name)) != _plain(new.get(name))
    }


# `{field: {"before": …, "after": …}}`
Changes = dict[str, dict[str, Any]]


def record_history(
    session: AsyncSession,
    model: type[HistoryMixin],
    write: tuple[str, int, HistoryOp],
    actor: Actor,
    changes: Changes,
) -> None:
    """Append one write of one record to the history, in the caller's transaction (flushed
    with the rest of it: a definition change migrating many records adds them all at once)."""
    record_id, version, op = write
    session.add(
        model(
            record_id=record_id,
            version=version,
            op=op,
            actor_role=actor.role.value,
            actor_org=actor.org,
            actor_key_id=actor.key_id,
            request_id=current_request_id(),
            changes=changes,
            occurred_at=utcnow(),
        )
    )


class HistoryActor(BaseModel):
    role: str = Field(description="Role of the key that wrote: editor, admin, service.")
    org: str | None = Field(None, description="Organisation of that key, if any.")
    key_id: str | None = Field(None, description="ID of the API key (not its secret).")


class HistoryEntry(BaseModel):
    """One write of a record."""

    seq: int = Field(description="Position in the service's history; later writes are larger.")
    version: int = Field(description="The record's version after this write.")
    op: HistoryOp
    occurred_at: datetime
    actor: HistoryActor
    request_id: str | None = Field(None, description="The request's `X-Request-ID`.")
    changes: dict[str, dict[str, Any]] = Field(
        description='Each changed field with its value `before` and `after` (`{"city": '
        '{"before": "北京", "after": "上海"}}`); a create has only `after`s, a delete none.'
    )


class HistoryPage(BaseModel):
    """A record's writes, newest first."""

    record_id: str
    results: list[HistoryEntry]
    # The `before` of the next (older) page; null on the last page.
    next_before: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Which page of a history: `limit` writes older than `before` (a seq), newest first."""

    before: int | None = None
    limit: int = 20

    @property
    def params(self) -> dict[str, int]:
        """As query parameters, for the service that keeps the history."""
        return {"limit": self.limit, **({"before": self.before} if self.before else {})}


def _history_query(
    before: Annotated[
        int | None, Query(ge=1, description="`next_before` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_PAGE)] = 20,
) -> HistoryQuery:
    return HistoryQuery(before, limit)


# The same query parameters on every history route, the gateway's and the services'.
HistoryParams = Annotated[HistoryQuery, Depends(_history_query)]


async def read_history(
    session: AsyncSession, model: type[HistoryMixin], record_id: str, query: HistoryQuery
) -> HistoryPage:
    """A record's writes, newest first, a page at a time."""
    rows = select(model).where(model.record_id == record_id)
    if query.before is not None:
        rows = rows.where(model.seq < query.before)
    limit = query.limit
    found = await session.execute(rows.order_by(model.seq.desc()).limit(limit + 1))
    entries = list(found.scalars())
    page = entries[:limit]
    return HistoryPage(
        record_id=record_id,
        results=[
            HistoryEntry(
                seq=row.seq,
                version=row.version,
                op=row.op,
                occurred_at=row.occurred_at,
                actor=HistoryActor(role=row.actor_role, org=row.actor_org, key_id=row.actor_key_id),
                request_id=row.request_id,
                changes=row.changes or {},
            )
            for row in page
        ],
        next_before=page[-1].seq if len(entries) > limit else None,
    )
