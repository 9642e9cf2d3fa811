"""Tables of the experts service: `experts` and its change feed `changes`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from services.experts.library import LIBRARY
from services.kernel.db import JSONType
from services.kernel.db import new_metadata
from services.kernel.records import RecordMixin
from services.kernel.records import record_indexes
from services.kernel.tables import kernel_tables


class Base(DeclarativeBase):
    metadata = new_metadata()


class Expert(RecordMixin, Base):
    __tablename__ = "experts"
    __table_args__ = record_indexes("experts", "orcid")

    name: Mapped[str] = mapped_column(String(200), index=True)
    name_en: Mapped[str | None] = mapped_column(String(300))
    # Derived from `name` on every write (never sent by callers).
    name_pinyin: Mapped[str] = mapped_column(String(1400))
    name_initials: Mapped[str] = mapped_column(String(200), index=True)
    title: Mapped[str | None] = mapped_column(String(100))
    honors: Mapped[list[str]] = mapped_column(JSONType, default=list)
    affiliations: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    disciplines: Mapped[list[str]] = mapped_column(JSONType, default=list)
    research_areas: Mapped[list[str]] = mapped_column(JSONType, default=list)
    bio: Mapped[str | None] = mapped_column(Text)
    orcid: Mapped[str | None] = mapped_column(String(19))
    homepage: Mapped[str | None] = mapped_column(String(500))
    # Restricted contact details: returned to signed-in roles only, never in the change feed.
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))


# The change feed and idempotency keys, as in every library service.
TABLES = kernel_tables(Base, LIBRARY)
