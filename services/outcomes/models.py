"""Tables of the outcomes service: `outcomes` and its change feed `changes`."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Date
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from services.kernel.db import JSONType
from services.kernel.db import new_metadata
from services.kernel.records import RecordMixin
from services.kernel.records import record_indexes
from services.kernel.tables import kernel_tables
from services.outcomes.library import LIBRARY


class Base(DeclarativeBase):
    metadata = new_metadata()


class Outcome(RecordMixin, Base):
    __tablename__ = "outcomes"
    __table_args__ = record_indexes("outcomes", "doi")

    title: Mapped[str] = mapped_column(String(500))
    abstract: Mapped[str | None] = mapped_column(Text)
    # Up to 2 M characters: deferred with raiseload so lists never drag bodies along; the
    # repository loads it explicitly for single-record reads and writes.
    full_text: Mapped[str | None] = mapped_column(Text, deferred=True, deferred_raiseload=True)
    # Stored on write so lists can say how long the body is without reading it.
    full_text_length: Mapped[int | None] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32), index=True)
    series: Mapped[str | None] = mapped_column(String(200))
    # [{"expert_id", "name", "order", "affiliation"}], sorted by order.
    authors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    institution_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # The first day of the period given; `published_precision` says whether that was a
    # year ("2021"), a month ("2021-05") or a day.
    published_on: Mapped[date | None] = mapped_column(Date, index=True)
    published_precision: Mapped[str | None] = mapped_column(String(8))
    keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
    disciplines: Mapped[list[str]] = mapped_column(JSONType, default=list)
    language: Mapped[str] = mapped_column(String(2), default="zh")
    visibility: Mapped[str] = mapped_column(String(16), index=True)
    doi: Mapped[str | None] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(String(500))


# The change feed and idempotency keys, as in every library service.
TABLES = kernel_tables(Base, LIBRARY)
