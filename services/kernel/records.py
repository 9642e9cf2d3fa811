"""Columns every library record has: identity, provenance, ownership, version and timestamps."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from services.kernel.db import UTCDateTime
from services.kernel.db import utcnow


def live_unique(name: str, *columns: str) -> Index:
    """A unique index over live records only: a deleted record keeps its identifiers as
    history, and a new record may take them."""
    where = text("deleted_at IS NULL")
    return Index(name, *columns, unique=True, postgresql_where=where, sqlite_where=where)


def record_indexes(table: str, *uniques: str | tuple[str, ...]) -> tuple[Index, ...]:
    """A record table's live-unique indexes: each identifier given (a column, or columns
    named by the last), and the import key (owner, source, external ID) every record has."""
    indexes = []
    for unique in uniques:
        columns = (unique,) if isinstance(unique, str) else unique
        indexes.append(live_unique(f"uq_{table}_{columns[-1]}_live", *columns))
    import_key = live_unique(f"uq_{table}_import_key_live", "owner_org", "source", "external_id")
    return (*indexes, import_key)


class RecordMixin:
    """Shared record columns; `version` drives ETags and the change feed's external versioning."""

    if TYPE_CHECKING:
        # Mixed into declarative models, whose constructor takes column values by name.
        def __init__(self, **kwargs: Any) -> None: ...

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_org: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str | None] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Soft delete: the row stays (IDs are forever) and the change feed carries a tombstone.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


def changed_values(
    record: object, values: Mapping[str, Any], *, key: Callable[[Any], Any] | None = None
) -> dict[str, Any]:
    """The `values` that differ from the record's columns (compared by `key`, if given)."""
    if key is None:
        return {k: v for k, v in values.items() if getattr(record, k) != v}
    return {k: v for k, v in values.items() if key(getattr(record, k)) != key(v)}


def record_meta(record: RecordMixin) -> dict[str, Any]:
    """What every change-feed document says of its record: owner, version and times."""
    return {
        "owner_org": record.owner_org,
        "version": record.version,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }
