"""Business rules of special databases; flushes, never commits (the request does)."""

from __future__ import annotations

import builtins  # `list` in annotations is the builtin, not DatasetService.list
from collections import Counter
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.datasets.compatibility import DefinitionChange
from services.datasets.compatibility import Incompatibilities
from services.datasets.documents import DatasetView
from services.datasets.documents import dataset_document
from services.datasets.documents import parse_fields
from services.datasets.documents import record_content
from services.datasets.documents import record_document
from services.datasets.exceptions import DatasetDeleted
from services.datasets.exceptions import DatasetNotFound
from services.datasets.exceptions import DuplicateExternalId
from services.datasets.exceptions import DuplicateSlug
from services.datasets.exceptions import IncompatibleDefinition
from services.datasets.exceptions import InvalidValues
from services.datasets.exceptions import RecordDeleted
from services.datasets.exceptions import RecordNotFound
from services.datasets.exceptions import SlugIsPermanent
from services.datasets.models import DATASET_ENTITY
from services.datasets.models import DATASET_ID_PREFIX
from services.datasets.models import RECORD_ENTITY
from services.datasets.models import RECORD_ID_PREFIX
from services.datasets.models import TABLES
from services.datasets.models import Dataset
from services.datasets.models import DatasetRecord
from services.datasets.references import ReferenceChecker
from services.datasets.repository import DatasetRepository
from services.datasets.repository import ImportKey
from services.datasets.repository import Lock
from services.datasets.repository import RecordRepository
from services.datasets.schemas import DatasetFields
from services.datasets.schemas import DatasetPatch
from services.datasets.schemas import RecordFields
from services.datasets.schemas import RecordPatch
from services.datasets.values import canonical
from services.datasets.values import references
from services.datasets.values import short
from services.datasets.values import validate_values
from services.kernel.bulk import BulkLine
from services.kernel.bulk import BulkResponse
from services.kernel.bulk import upsert_lines
from services.kernel.changefeed import record_change
from services.kernel.concurrency import expected_version
from services.kernel.concurrency import raise_stale
from services.kernel.db import utcnow
from services.kernel.errors import Conflict
from services.kernel.errors import FieldError
from services.kernel.fields import import_key
from services.kernel.history import field_changes
from services.kernel.internal_auth import Actor
from services.kernel.merge_patch import patched
from services.kernel.ownership import UpsertResult
from services.kernel.ownership import ensure_may_write
from services.kernel.ownership import owner_for_create
from services.kernel.ownership import owner_for_update
from services.kernel.record_ids import new_id
from services.kernel.records import changed_values
from services.kernel.references import ReferenceCounter
from services.kernel.service import LibraryService
from services.kernel.visibility import can_see

# Records an import looks up at once (also bounds the size of one IN list).
UPSERT_BATCH = 500

# Import keys already looked up in a request, with their live record (None: none yet).
KnownRecords = dict[ImportKey, DatasetRecord | None]

# Definition attributes that a record's values or its search document depend on.
_RECORD_SHAPING = frozenset({"fields", "title_field", "visibility"})


def may_see_restricted(record_owner: str, actor: Actor) -> bool:
    """Restricted values (contact details): admins and the owning organisation's editors."""
    return actor.may_write(record_owner)


class DatasetService(LibraryService[Dataset]):
    """Dataset definitions: define, change (checked against stored records), delete."""

    tables = TABLES
    entity = DATASET_ENTITY
    repo: DatasetRepository

    def __init__(self, session: AsyncSession, references: ReferenceChecker) -> None:
        super().__init__(session, DatasetRepository(session))
        self.records = RecordRepository(session)
        self.references = references

    def document(self, record: Dataset) -> dict[str, Any]:
        return dataset_document(record)

    # reads

    async def get(self, slug: str, actor: Actor, *, lock: Lock = None) -> Dataset:
        """A live dataset the caller may see; 404 if unknown or hidden, 410 if deleted."""
        if "\x00" in slug:  # no slug holds a NUL (PostgreSQL text cannot): do not ask
            raise DatasetNotFound(slug.replace("\x00", ""))
        dataset = await self.repo.get_live_by_slug(slug, lock=lock)
        if dataset is None:
            if await self.repo.was_deleted(slug):
                raise DatasetDeleted(slug)
            raise DatasetNotFound(slug)
        if not can_see(actor, dataset.visibility, dataset.owner_org):
            raise DatasetNotFound(slug)  # hidden datasets are not admitted to exist
        return dataset

    async def list(
        self, actor: Actor, *, after: str | None, limit: int
    ) -> tuple[list[Dataset], str | None]:
        """The visible datasets of one page by slug, and the slug to continue after (if any)."""
        page = await self.repo.list_after_slug(after, limit)
        visible = [d for d in page if can_see(actor, d.visibility, d.owner_org)]
        return visible, page[-1].slug if len(page) == limit else None

    async def record_counts(self, datasets: Sequence[Dataset]) -> dict[str, int]:
        return await self.records.count_by_dataset([d.id for d in datasets])

    # writes (admins only; the route checks the role)

    async def create(self, data: DatasetFields, actor: Actor) -> Dataset:
        values = data.model_dump(mode="json")
        values["owner_org"] = owner_for_create(values.get("owner_org"), actor)
        existing = await self.repo.get_live_by(slug=data.slug)
        if existing is not None:
            raise DuplicateSlug(data.slug, existing.id)
        return await self._insert(new_id(DATASET_ID_PREFIX), values, actor)

    async def update(
        self,
        slug: str,
        patch: dict[str, Any],
        if_match: str | None,
        actor: Actor,
        *,
        drop_removed_fields: bool = False,
    ) -> tuple[Dataset, int]:
        """Apply a merge patch; migrate the records it affects or refuse. (dataset, migrated)."""
        dataset = await self.get(slug, actor, lock="update")
        expected = expected_version(if_match, dataset.version)
        current = {name: getattr(dataset, name) for name in DatasetPatch.writable_fields}
        data = patched(DatasetFields, current, patch)
        if data.slug != dataset.slug:
            raise SlugIsPermanent()
        values = data.model_dump(mode="json")
        values["owner_org"] = owner_for_update(dataset.owner_org, values["owner_org"], actor)
        changed = changed_values(dataset, values, key=canonical)
        if not changed:
            return dataset, 0  # nothing to write: no new version, no change-feed entry
        old_view = DatasetView.of(dataset)
        new_view = DatasetView(
            id=dataset.id,
            slug=dataset.slug,
            visibility=values["visibility"],
            title_field=values["title_field"],
            fields=tuple(parse_fields(values["fields"])),
        )
        migrations = (
            await self._plan_migration(
                dataset.id, old_view, new_view, drop_removed=drop_removed_fields
            )
            if changed.keys() & _RECORD_SHAPING
            else []
        )
        now = utcnow()
        before = {name: getattr(dataset, name) for name in changed}
        if not await self.repo.update_if_version(
            dataset.id, expected, {**changed, "updated_at": now}
        ):
            raise_stale(await self._current_version(dataset.id))
        refreshed = await self.get(slug, actor)
        self._remember(
            dataset.id, refreshed.version, "update", actor, field_changes(before, changed)
        )
        for row, new_values in migrations:
            if not await self.records.update_if_version(
                row.id, row.version, {"values": new_values, "updated_at": now}
            ):
                raise Conflict(f"Record {row.id} changed during the migration; retry.")
            # Migrated by the definition's change: in the record's history as that write.
            moved = field_changes({"values": row.values}, {"values": new_values})
            self._remember(row.id, row.version + 1, "update", actor, moved)
        # Feed: the definition first, so the indexer maps fields before it sees the records.
        await self._publish(refreshed)
        for row, new_values in migrations:
            migrated = _Migrated(row.id, row.owner_org, row.version + 1, row.created_at, now)
            await record_change(
                self.session,
                TABLES.change,
                entity=RECORD_ENTITY,
                record_id=row.id,
                op="upsert",
                version=migrated.version,
                document=record_document(migrated, new_values, new_view),
            )
        return refreshed, len(migrations)

    async def delete(self, slug: str, if_match: str | None, actor: Actor) -> int:
        """Soft-delete the dataset and every record in it, each with a tombstone; how many."""
        dataset = await self.get(slug, actor, lock="update")
        expected = expected_version(if_match, dataset.version)
        rows = [(row.id, row.version) async for row in self.records.iter_live_rows(dataset.id)]
        now = utcnow()
        if not await self.repo.update_if_version(
            dataset.id, expected, {"deleted_at": now, "updated_at": now}
        ):
            raise_stale(await self._current_version(dataset.id))
        await self.records.soft_delete_all(dataset.id, now)
        self._remember(dataset.id, expected + 1, "delete", actor, {})
        for record_id, version in rows:
            self._remember(record_id, version + 1, "delete", actor, {})
            await record_change(
                self.session,
                TABLES.change,
                entity=RECORD_ENTITY,
                record_id=record_id,
                op="delete",
                version=version + 1,
                document=None,
            )
        await self._tombstone(dataset.id, expected + 1)
        return len(rows)

    # rules

    async def _plan_migration(
        self, dataset_id: str, old: DatasetView, new: DatasetView, *, drop_removed: bool
    ) -> builtins.list[tuple[Any, dict[str, Any]]]:
        """Records whose values or document the new definition changes, with their new values.

        Refuses (409, nothing written) if any stored record would not fit the new definition.
        """
        change = DefinitionChange(old.fields, new.fields, drop_removed=drop_removed)
        problems = Incompatibilities()
        pending: list[tuple[Any, dict[str, Any]]] = []
        new_refs: dict[str, dict[str, list[tuple[str, str]]]] = {}
        async for row in self.records.iter_live_rows(dataset_id):
            stored = dict(row.values or {})
            new_values, failures = change.migrate(stored)
            for field_name, problem in failures:
                problems.add(field_name, problem.kind, row.id, problem.message)
            if failures:
                continue
            for field_name, ref_id in change.new_references(new_values):
                library = next(f.library for f in new.fields if f.name == field_name)
                assert library is not None
                new_refs.setdefault(library, {}).setdefault(ref_id, []).append((field_name, row.id))
            if canonical(new_values) != canonical(stored) or canonical(
                record_content(new_values, new, row.owner_org)
            ) != canonical(record_content(stored, old, row.owner_org)):
                pending.append((row, new_values))
        for library, by_id in new_refs.items():
            for ref_id in sorted(await self.references.missing(library, by_id)):
                for field_name, record_id in by_id[ref_id]:
                    problems.add(field_name, "unknown_reference", record_id, short(ref_id))
        if problems:
            raise IncompatibleDefinition(problems.errors())
        return pending


class _ConfirmedReferences(ReferenceChecker):
    """A checker that does not ask again about IDs already confirmed live in this request."""

    def __init__(self, checker: ReferenceChecker, live: set[str]) -> None:
        super().__init__(checker.clients)
        self.live = live

    async def missing(
        self, library: str, ids: Iterable[str], actor: Actor | None = None
    ) -> set[str]:
        return await super().missing(library, [i for i in ids if i not in self.live], actor)


@dataclass(frozen=True, slots=True)
class _Migrated:
    """A record's metadata after a migration, for its change-feed document."""

    id: str
    owner_org: str
    version: int
    created_at: datetime
    updated_at: datetime


class RecordService(LibraryService[DatasetRecord]):
    """Records of one dataset: validated against its definition, owned by an organisation.

    A record's search document depends on its dataset's definition, so each write passes it.
    """

    tables = TABLES
    entity = RECORD_ENTITY
    repo: RecordRepository

    def __init__(self, session: AsyncSession, references: ReferenceChecker) -> None:
        super().__init__(session, RecordRepository(session))
        self.datasets = DatasetService(session, references)
        self.references = references

    # reads

    async def get(self, slug: str, record_id: str, actor: Actor) -> tuple[Dataset, DatasetRecord]:
        dataset = await self.datasets.get(slug, actor)
        return dataset, await self._record(dataset, record_id)

    async def list(
        self,
        slug: str,
        actor: Actor,
        *,
        after: str | None,
        limit: int,
        ids: Sequence[str] | None = None,
    ) -> tuple[Dataset, Sequence[DatasetRecord]]:
        dataset = await self.datasets.get(slug, actor)
        if ids is not None:
            return dataset, await self.repo.list_by_ids_in(dataset.id, ids)
        return dataset, await self.repo.list_in(dataset.id, after=after, limit=limit)

    # writes

    async def create(
        self, slug: str, data: RecordFields, actor: Actor
    ) -> tuple[Dataset, DatasetRecord]:
        dataset = await self.datasets.get(slug, actor, lock="share")
        return dataset, await self._create(dataset, DatasetView.of(dataset), data, actor)

    async def update(
        self, slug: str, record_id: str, patch: dict[str, Any], if_match: str | None, actor: Actor
    ) -> tuple[Dataset, DatasetRecord]:
        """Apply a JSON merge patch (values merge field by field), only if the ETag is current."""
        dataset = await self.datasets.get(slug, actor, lock="share")
        record = await self._record(dataset, record_id)
        expected = self._may_change(record, if_match, actor)
        current = {name: getattr(record, name) for name in RecordPatch.writable_fields}
        data = patched(RecordFields, current, patch)
        view = DatasetView.of(dataset)
        return dataset, await self._apply(view, record, expected, data, actor)

    async def delete(self, slug: str, record_id: str, if_match: str | None, actor: Actor) -> None:
        """Soft-delete: the row stays, the change feed gets a tombstone."""
        dataset = await self.datasets.get(slug, actor, lock="share")
        record = await self._record(dataset, record_id)
        expected = self._may_change(record, if_match, actor)
        await self._soft_delete(record, expected, actor)

    async def upsert(
        self, slug: str, source: str, external_id: str, data: RecordFields, actor: Actor
    ) -> tuple[Dataset, DatasetRecord, UpsertResult]:
        """Create or replace the record keyed by `(source, external_id)` in the dataset."""
        dataset = await self.datasets.get(slug, actor, lock="share")
        record, result = await self._upsert(
            dataset, DatasetView.of(dataset), source, external_id, data, actor
        )
        return dataset, record, result

    async def upsert_many(
        self,
        slug: str,
        items: Iterable[tuple[str, str, RecordFields]],
        actor: Actor,
    ) -> Counter[UpsertResult]:
        """Upsert `(source, external_id, fields)` items in the caller's transaction (imports).

        Keys follow the rule of keys in URLs and bodies (one logical key, one record);
        existing records are looked up a batch at a time, so a re-run is mostly reads.
        """
        dataset = await self.datasets.get(slug, actor, lock="share")
        view = DatasetView.of(dataset)
        counts: Counter[UpsertResult] = Counter()
        batch: list[tuple[str, str, RecordFields]] = []
        for source, external_id, data in items:
            batch.append((*import_key(source, external_id), data))
            if len(batch) == UPSERT_BATCH:
                counts += await self._upsert_batch(dataset, view, batch, actor)
                batch = []
        if batch:
            counts += await self._upsert_batch(dataset, view, batch, actor)
        return counts

    async def bulk_upsert(self, slug: str, lines: Sequence[BulkLine], actor: Actor) -> BulkResponse:
        """Upsert each valid line into the dataset in its own savepoint (imports).

        References are asked for once per library and existing records looked up a batch at
        a time; a line that does not fit the definition is rejected alone.
        """
        dataset = await self.datasets.get(slug, actor, lock="share")
        view = DatasetView.of(dataset)
        valid = [line for line in lines if line.ok]
        wanted: dict[str, set[str]] = {}
        for line in valid:
            values, _errors = validate_values(line.data.values, view.fields)
            for field, _index, ref_id in references(values, view.fields):
                wanted.setdefault(field.library or "", set()).add(ref_id)
        live: set[str] = set()
        for library, ids in wanted.items():
            live |= ids - await self.references.missing(library, ids, actor)
        self.references = _ConfirmedReferences(self.references, live)
        keys = [_import_key(line.data, *line.key, actor) for line in valid]
        known: KnownRecords = {}
        for start in range(0, len(keys), UPSERT_BATCH):
            known |= await self._looked_up(dataset.id, keys[start : start + UPSERT_BATCH])

        async def upsert(line: BulkLine) -> tuple[DatasetRecord, UpsertResult]:
            source, external_id = line.key
            try:
                return await self._upsert(
                    dataset, view, source, external_id, line.data, actor, known=known
                )
            except Conflict:
                # Another request may have created the key meanwhile: `upsert_lines` sends the
                # line again, and then it is looked up afresh.
                known.pop(_import_key(line.data, source, external_id, actor), None)
                raise

        return await upsert_lines(self.session, lines, upsert)

    # rules

    async def _record(self, dataset: Dataset, record_id: str) -> DatasetRecord:
        if "\x00" in record_id:  # as for slugs: no record ID holds a NUL
            raise RecordNotFound(dataset.slug, record_id.replace("\x00", ""))
        record = await self.repo.get(record_id, include_deleted=True)
        if record is None or record.dataset_id != dataset.id:
            raise RecordNotFound(dataset.slug, record_id)
        if record.is_deleted:
            raise RecordDeleted(record_id)
        return record

    async def _upsert_batch(
        self,
        dataset: Dataset,
        view: DatasetView,
        batch: Sequence[tuple[str, str, RecordFields]],
        actor: Actor,
    ) -> Counter[UpsertResult]:
        known = await self._looked_up(
            dataset.id,
            [_import_key(data, source, external_id, actor) for source, external_id, data in batch],
        )
        counts: Counter[UpsertResult] = Counter()
        for source, external_id, data in batch:
            _record, result = await self._upsert(
                dataset, view, source, external_id, data, actor, known=known
            )
            counts[result] += 1
        return counts

    async def _upsert(
        self,
        dataset: Dataset,
        view: DatasetView,
        source: str,
        external_id: str,
        data: RecordFields,
        actor: Actor,
        *,
        known: KnownRecords | None = None,
    ) -> tuple[DatasetRecord, UpsertResult]:
        """Create or replace the record keyed by `(owner, source, external_id)` in the dataset.

        `known`: keys already looked up (None: no live record); the record written is added
        to it, for a key repeated later in the same request.
        """
        data = data.model_copy(update={"source": source, "external_id": external_id})
        owner, _, _ = key = _import_key(data, source, external_id, actor)

        async def find() -> DatasetRecord | None:
            if known is not None and key in known:
                return known[key]
            return await self.repo.get_live_by(
                dataset_id=dataset.id, owner_org=owner, source=source, external_id=external_id
            )

        async def replace(existing: DatasetRecord) -> DatasetRecord:
            ensure_may_write(existing.owner_org, actor)
            return await self._apply(view, existing, existing.version, data, actor)

        record, result = await self._create_or_replace(
            {
                "dataset_id": dataset.id,
                "owner_org": owner,
                "source": source,
                "external_id": external_id,
            },
            lambda: self._create(dataset, view, data, actor, looked_up=True),
            replace,
            find=find,
        )
        if known is not None:
            known[key] = record
        return record, result

    async def _looked_up(self, dataset_id: str, keys: Sequence[ImportKey]) -> KnownRecords:
        """Each of `keys` with its live record, or None when it has none."""
        found = await self.repo.live_by_import_keys(dataset_id, keys)
        return {key: found.get(key) for key in keys}

    async def _create(
        self,
        dataset: Dataset,
        view: DatasetView,
        data: RecordFields,
        actor: Actor,
        *,
        looked_up: bool = False,
    ) -> DatasetRecord:
        """`looked_up`: the caller already knows no live record has this (source, external_id)."""
        owner_org = owner_for_create(data.owner_org, actor)
        values = await self._valid_values(data.values, view, actor)
        if not looked_up:
            await self._check_unique(
                dataset.id, owner_org, data.source, data.external_id, exclude_id=None
            )
        now = utcnow()
        record = DatasetRecord(
            id=new_id(RECORD_ID_PREFIX),
            dataset_id=dataset.id,
            values=values,
            owner_org=owner_org,
            source=data.source,
            external_id=data.external_id,
            version=1,
            created_at=now,
            updated_at=now,
        )
        await self.repo.add(record)
        written = {"values": values, "owner_org": owner_org, "source": data.source}
        written["external_id"] = data.external_id
        self._remember(record.id, 1, "create", actor, field_changes(None, written))
        await self._publish(record, record_document(record, record.values, view))
        return record

    async def _apply(
        self,
        view: DatasetView,
        record: DatasetRecord,
        expected: int,
        data: RecordFields,
        actor: Actor,
    ) -> DatasetRecord:
        owner_org = owner_for_update(record.owner_org, data.owner_org, actor)
        wanted = {
            "values": await self._valid_values(data.values, view, actor),
            "owner_org": owner_org,
            "source": data.source,
            "external_id": data.external_id,
        }
        changed = changed_values(record, wanted, key=canonical)
        if not changed:
            return record  # nothing to write: no new version, no change-feed entry
        await self._check_unique(
            record.dataset_id, owner_org, data.source, data.external_id, exclude_id=record.id
        )
        stored = await self._store(record, expected, changed, actor)
        await self._publish(stored, record_document(stored, stored.values, view))
        return stored

    async def _valid_values(
        self, raw: dict[str, Any], view: DatasetView, actor: Actor
    ) -> dict[str, Any]:
        """The values in stored form, or a 422 naming every field that is wrong (a reference
        to a record the writer may not see is as wrong as one to no record)."""
        values, errors = validate_values(raw, view.fields)
        wanted: dict[str, list[tuple[tuple[str | int, ...], str]]] = {}
        for field, index, ref_id in references(values, view.fields):
            assert field.library is not None
            loc = ("body", "values", field.name, *(() if index is None else (index,)))
            wanted.setdefault(field.library, []).append((loc, ref_id))
        for library, locs in wanted.items():
            missing = await self.references.missing(library, (ref_id for _, ref_id in locs), actor)
            errors += [
                FieldError(
                    loc, f"{ref_id} is not a record in {library} (unknown or deleted)", "reference"
                )
                for loc, ref_id in locs
                if ref_id in missing
            ]
        if errors:
            raise InvalidValues(errors)
        return values

    async def _check_unique(
        self,
        dataset_id: str,
        owner_org: str,
        source: str | None,
        external_id: str | None,
        *,
        exclude_id: str | None,
    ) -> None:
        if not (source and external_id):
            return
        existing = await self.repo.get_live_by(
            dataset_id=dataset_id, owner_org=owner_org, source=source, external_id=external_id
        )
        if existing is not None and existing.id != exclude_id:
            raise DuplicateExternalId(source, external_id, existing.id)


def _import_key(data: RecordFields, source: str, external_id: str, actor: Actor) -> ImportKey:
    """The key an upsert finds its record by: the owner it writes for, source, external_id."""
    return owner_for_create(data.owner_org, actor), source, external_id


def reference_counter(library: str) -> ReferenceCounter:
    """Counts the live records, in any dataset, whose `ref:<library>` fields name a record."""

    async def count(session: AsyncSession, record_id: str) -> int:
        views: dict[str, DatasetView] = {}
        datasets = DatasetRepository(session)

        def refers(record: DatasetRecord) -> bool:
            view = views.get(record.dataset_id)
            return view is not None and any(
                field.library == library and ref_id == record_id
                for field, _index, ref_id in references(record.values, view.fields)
            )

        repo = RecordRepository(session)
        candidates = await repo.live_mentioning(DatasetRecord.values, record_id)
        for dataset in await datasets.list_by_ids(sorted({r.dataset_id for r in candidates})):
            views[dataset.id] = DatasetView.of(dataset)
        return sum(1 for record in candidates if refers(record))

    return count
