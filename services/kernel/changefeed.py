"""The transactional change feed (outbox): one `changes` row per write, in the same transaction.

PostgreSQL trap designed out here: sequence values are handed out at INSERT time but become
visible at COMMIT time, so a reader that sees seq 12 may later find a seq 11 committed after
it and skip it forever. `record_change` takes a transaction-scoped advisory lock before
taking its sequence number, so feed rows commit in sequence order and a reader never sees a
gap that fills later. Services record the change as the last write of a transaction, which
keeps the lock short. SQLite has one writer at a time, so the order holds there by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Literal

from pydantic import BaseModel
from pydantic import Field
from sqlalchemy import BigInteger
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from services.kernel.context import current_request_id
from services.kernel.db import JSONType
from services.kernel.db import UTCDateTime
from services.kernel.db import utcnow
from services.kernel.locks import lock_for_transaction

ChangeOp = Literal["upsert", "delete"]
MAX_FEED_PAGE = 1000


class ChangeMixin:
    """Columns of a service's `changes` table; `feed_name` keys its advisory lock."""

    feed_name: ClassVar[str]

    if TYPE_CHECKING:
        # Mixed into declarative models, whose constructor takes column values by name.
        def __init__(self, **kwargs: Any) -> None: ...

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    entity: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(32), index=True)
    op: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer)
    # The search-document projection: never contains restricted fields (see documents.py).
    document: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)


async def record_change(
    session: AsyncSession,
    model: type[ChangeMixin],
    *,
    entity: str,
    record_id: str,
    op: ChangeOp,
    version: int,
    document: dict[str, Any] | None,
) -> int:
    """Append one change in the caller's transaction (call it as its last write); its seq."""
    await lock_for_transaction(session, f"feed:{model.feed_name}")
    change = model(
        entity=entity,
        record_id=record_id,
        op=op,
        version=version,
        document=document if op == "upsert" else None,
        request_id=current_request_id(),
    )
    session.add(change)
    await session.flush()
    return change.seq


class ChangeOut(BaseModel):
    seq: int = Field(description="Position in this service's feed; strictly increasing.")
    entity: str = Field(description="Kind of record, e.g. `institution`.")
    record_id: str
    op: ChangeOp = Field(description="`upsert` carries the document; `delete` is a tombstone.")
    version: int = Field(description="Record version; use as the external version when indexing.")
    document: dict[str, Any] | None
    occurred_at: datetime


class ChangePage(BaseModel):
    changes: list[ChangeOut]
    next_after: int = Field(description="Pass as `after` to continue; unchanged when empty.")
    head: int = Field(description="Highest committed seq now; `head - next_after` is the lag.")


async def read_changes(
    session: AsyncSession, model: type[ChangeMixin], *, after: int, limit: int
) -> ChangePage:
    """Committed changes with seq > after, in order."""
    stmt = select(model).where(model.seq > after).order_by(model.seq).limit(limit)
    rows: Sequence[Any] = (await session.execute(stmt)).scalars().all()
    head = (await session.execute(select(func.coalesce(func.max(model.seq), 0)))).scalar_one()
    changes = [ChangeOut.model_validate(row, from_attributes=True) for row in rows]
    return ChangePage(
        changes=changes,
        next_after=changes[-1].seq if changes else after,
        head=max(int(head), after),
    )
