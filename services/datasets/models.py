"""Tables of the datasets service: `datasets` (definitions), `dataset_records`, `changes`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from services.datasets.library import LIBRARY
from services.kernel.db import JSONType
from services.kernel.db import new_metadata
from services.kernel.records import RecordMixin
from services.kernel.records import live_unique
from services.kernel.tables import kernel_tables

DATASET_ID_PREFIX = LIBRARY.id_prefix
RECORD_ID_PREFIX = LIBRARY.other_prefixes[0]
DATASET_ENTITY = LIBRARY.entity
RECORD_ENTITY = "dataset_record"


class Base(DeclarativeBase):
    metadata = new_metadata()


# The change feed and idempotency keys, as in every library service.
TABLES = kernel_tables(Base, LIBRARY)


class Dataset(RecordMixin, Base):
    """A special database's definition; records point at its `id`, URLs name its `slug`."""

    __tablename__ = "datasets"
    __table_args__ = (live_unique("uq_datasets_slug_live", "slug"),)

    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(16))
    # The field definitions as API.md shows them (list of objects), validated by schemas.py.
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    title_field: Mapped[str] = mapped_column(String(64))


class DatasetRecord(RecordMixin, Base):
    __tablename__ = "dataset_records"
    __table_args__ = (
        live_unique(
            "uq_dataset_records_import_key_live",
            "dataset_id",
            "owner_org",
            "source",
            "external_id",
        ),
    )

    dataset_id: Mapped[str] = mapped_column(String(32), ForeignKey("datasets.id"), index=True)
    # Typed values keyed by field name; absent fields are left out (never stored as null).
    values: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
