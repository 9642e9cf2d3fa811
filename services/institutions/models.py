"""Tables of the institutions service: `institutions` and its change feed `changes`."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.institutions.library import LIBRARY
from services.kernel.changefeed import ChangeMixin
from services.kernel.db import JSONType, new_metadata
from services.kernel.idempotency import IdempotencyMixin
from services.kernel.records import RecordMixin, live_unique


class Base(DeclarativeBase):
    metadata = new_metadata()


class Institution(RecordMixin, Base):
    __tablename__ = "institutions"
    __table_args__ = (
        live_unique("uq_institutions_uscc_live", "uscc"),
        live_unique("uq_institutions_ror_id_live", "ror_id"),
        live_unique("uq_institutions_import_key_live", "owner_org", "source", "external_id"),
    )

    name: Mapped[str] = mapped_column(String(200), index=True)
    name_en: Mapped[str | None] = mapped_column(String(300))
    aliases: Mapped[list[str]] = mapped_column(JSONType, default=list)
    acronyms: Mapped[list[str]] = mapped_column(JSONType, default=list)
    type: Mapped[str] = mapped_column(String(32), index=True)
    parent_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("institutions.id"), index=True
    )
    region_code: Mapped[str | None] = mapped_column(String(6))
    province: Mapped[str | None] = mapped_column(String(32))
    city: Mapped[str | None] = mapped_column(String(64))
    website: Mapped[str | None] = mapped_column(String(500))
    uscc: Mapped[str | None] = mapped_column(String(18))
    ror_id: Mapped[str | None] = mapped_column(String(9))
    established_year: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="active")
    merged_into: Mapped[str | None] = mapped_column(String(32), ForeignKey("institutions.id"))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)


class InstitutionChange(ChangeMixin, Base):
    __tablename__ = "changes"
    feed_name: ClassVar[str] = LIBRARY.name


class InstitutionIdempotency(IdempotencyMixin, Base):
    """Answers of POSTs sent with an `Idempotency-Key` (kernel/idempotency.py)."""
