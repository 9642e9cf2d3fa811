"""Data access for dataset definitions and their records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from typing import Literal

from sqlalchemy import Row
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from services.datasets.models import Dataset
from services.datasets.models import DatasetRecord
from services.kernel.repository import Repository

# "share" for record writes (many at once), "update" for definition changes (alone): a
# definition never changes under a record write that validated against the old one.
# A record's import key: its owning organisation's (source, external_id).
ImportKey = tuple[str, str, str]
Lock = Literal["share", "update"] | None


class DatasetRepository(Repository[Dataset]):
    model = Dataset

    async def get_live_by_slug(self, slug: str, *, lock: Lock = None) -> Dataset | None:
        stmt = self._live().where(Dataset.slug == slug).execution_options(populate_existing=True)
        if lock is not None:
            stmt = stmt.with_for_update(read=lock == "share")
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def was_deleted(self, slug: str) -> bool:
        stmt = select(Dataset.id).where(Dataset.slug == slug, Dataset.deleted_at.is_not(None))
        return (await self.session.execute(stmt.limit(1))).first() is not None

    async def list_after_slug(self, after: str | None, limit: int) -> Sequence[Dataset]:
        stmt = self._live().order_by(Dataset.slug).limit(limit)
        if after:
            stmt = stmt.where(Dataset.slug > after)
        return (await self.session.execute(stmt)).scalars().all()


class RecordRepository(Repository[DatasetRecord]):
    model = DatasetRecord

    async def list_in(
        self, dataset_id: str, *, after: str | None, limit: int
    ) -> Sequence[DatasetRecord]:
        stmt = (
            self._live()
            .where(DatasetRecord.dataset_id == dataset_id)
            .order_by(DatasetRecord.id)
            .limit(limit)
        )
        if after:
            stmt = stmt.where(DatasetRecord.id > after)
        return (await self.session.execute(stmt)).scalars().all()

    async def list_by_ids_in(self, dataset_id: str, ids: Sequence[str]) -> Sequence[DatasetRecord]:
        stmt = (
            self._live()
            .where(DatasetRecord.dataset_id == dataset_id, DatasetRecord.id.in_(list(ids)))
            .order_by(DatasetRecord.id)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def live_by_import_keys(
        self, dataset_id: str, keys: Sequence[ImportKey]
    ) -> dict[ImportKey, DatasetRecord]:
        """The live records of a dataset with these `(owner_org, source, external_id)` keys."""
        by_space: dict[tuple[str, str], set[str]] = {}
        for owner_org, source, external_id in keys:
            by_space.setdefault((owner_org, source), set()).add(external_id)
        found: dict[ImportKey, DatasetRecord] = {}
        for (owner_org, source), external_ids in by_space.items():
            stmt = self._live().where(
                DatasetRecord.dataset_id == dataset_id,
                DatasetRecord.owner_org == owner_org,
                DatasetRecord.source == source,
                DatasetRecord.external_id.in_(sorted(external_ids)),
            )
            for record in (await self.session.execute(stmt)).scalars():
                found[(owner_org, source, record.external_id or "")] = record
        return found

    async def count_by_dataset(self, dataset_ids: Sequence[str]) -> dict[str, int]:
        stmt = (
            select(DatasetRecord.dataset_id, func.count())
            .where(DatasetRecord.dataset_id.in_(list(dataset_ids)))
            .where(DatasetRecord.deleted_at.is_(None))
            .group_by(DatasetRecord.dataset_id)
        )
        return {row[0]: int(row[1]) for row in (await self.session.execute(stmt)).all()}

    async def iter_live_rows(self, dataset_id: str, *, batch: int = 500) -> AsyncIterator[Row[Any]]:
        """Every live record of a dataset as plain rows, in ID order, a batch at a time."""
        columns = (
            DatasetRecord.id,
            DatasetRecord.owner_org,
            DatasetRecord.version,
            DatasetRecord.values,
            DatasetRecord.created_at,
            DatasetRecord.updated_at,
        )
        after = ""
        while True:
            stmt = (
                select(*columns)
                .where(
                    DatasetRecord.dataset_id == dataset_id,
                    DatasetRecord.deleted_at.is_(None),
                    DatasetRecord.id > after,
                )
                .order_by(DatasetRecord.id)
                .limit(batch)
            )
            rows = (await self.session.execute(stmt)).all()
            for row in rows:
                yield row
            if len(rows) < batch:
                return
            after = rows[-1].id

    async def soft_delete_all(self, dataset_id: str, now: datetime) -> None:
        """Delete every live record of a dataset, each getting a new version (tombstones)."""
        stmt = (
            update(DatasetRecord)
            .where(DatasetRecord.dataset_id == dataset_id, DatasetRecord.deleted_at.is_(None))
            .values(deleted_at=now, updated_at=now, version=DatasetRecord.version + 1)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(stmt)
