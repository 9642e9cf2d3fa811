"""Tables of the institutions service: `institutions` and its change feed `changes`."""

from __future__ import annotations

from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from services.institutions.library import LIBRARY
from services.kernel.db import JSONType
from services.kernel.db import new_metadata
from services.kernel.records import RecordMixin
from services.kernel.records import record_indexes
from services.kernel.tables import kernel_tables


class Base(DeclarativeBase):
    metadata = new_metadata()


class Institution(RecordMixin, Base):
    __tablename__ = "institutions"
    __table_args__ = record_indexes("institutions", "uscc", "ror_id")

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


# The change feed and idempotency keys, as in every library service.
TABLES = kernel_tables(Base, LIBRARY)
