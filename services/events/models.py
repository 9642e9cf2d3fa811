"""Tables of the events service: `events` and its change feed `changes`."""

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

from services.events.library import LIBRARY
from services.kernel.db import JSONType
from services.kernel.db import new_metadata
from services.kernel.records import RecordMixin
from services.kernel.records import record_indexes
from services.kernel.tables import kernel_tables


class Base(DeclarativeBase):
    metadata = new_metadata()


class Event(RecordMixin, Base):
    __tablename__ = "events"
    # 智汇双月谈 第 12 期 is one event.
    __table_args__ = record_indexes("events", ("series", "series_number"))

    title: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(16), index=True)
    series: Mapped[str | None] = mapped_column(String(200), index=True)
    series_number: Mapped[int | None] = mapped_column(Integer)
    starts_on: Mapped[date] = mapped_column(Date, index=True)
    ends_on: Mapped[date | None] = mapped_column(Date)
    region_code: Mapped[str | None] = mapped_column(String(6))
    province: Mapped[str | None] = mapped_column(String(50))
    city: Mapped[str | None] = mapped_column(String(100))
    venue: Mapped[str | None] = mapped_column(String(300))
    organiser_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    co_organiser_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # [{"expert_id", "name", "role", "affiliation"}] in the order given.
    participants: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    topics: Mapped[list[str]] = mapped_column(JSONType, default=list)
    keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
    disciplines: Mapped[list[str]] = mapped_column(JSONType, default=list)
    summary: Mapped[str | None] = mapped_column(Text)
    outcome_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    visibility: Mapped[str] = mapped_column(String(16), index=True)
    url: Mapped[str | None] = mapped_column(String(500))


# The change feed and idempotency keys, as in every library service.
TABLES = kernel_tables(Base, LIBRARY)
