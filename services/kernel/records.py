"""Columns every library record has: identity, provenance, ownership, version and timestamps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.kernel.db import UTCDateTime, utcnow


class RecordMixin:
    """Shared record columns; `version` drives ETags and the change feed's external versioning."""

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
