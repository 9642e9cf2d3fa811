"""The write steps every library service takes the same way, around its own rules.

A domain service checks what is specific to its records (references, uniqueness, derived
columns) and leaves to this base what is alike everywhere: who may change a record at which
version (403, 428, 412), the conditional update that bumps the version (412 if another write
got there first), the soft delete, and the change-feed entry each write appends as its last
step. Services flush, never commit: the request boundary does.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Generic
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.bulk import BulkLine
from services.kernel.bulk import BulkResponse
from services.kernel.bulk import upsert_lines
from services.kernel.changefeed import record_change
from services.kernel.concurrency import expected_version
from services.kernel.concurrency import raise_stale
from services.kernel.db import utcnow
from services.kernel.errors import Conflict
from services.kernel.errors import DuplicateIdentifier
from services.kernel.errors import Forbidden
from services.kernel.history import Changes
from services.kernel.history import HistoryOp
from services.kernel.history import HistoryPage
from services.kernel.history import HistoryQuery
from services.kernel.history import field_changes
from services.kernel.history import read_history
from services.kernel.history import record_history
from services.kernel.internal_auth import Actor
from services.kernel.library import LibraryFacts
from services.kernel.lookup import RecordLookup
from services.kernel.merge_patch import patched
from services.kernel.ownership import UpsertResult
from services.kernel.ownership import ensure_may_write
from services.kernel.ownership import owner_for_create
from services.kernel.ownership import owner_for_update
from services.kernel.record_ids import new_id
from services.kernel.records import RecordMixin
from services.kernel.records import changed_values
from services.kernel.repository import Repository
from services.kernel.repository import VisibleRepository
from services.kernel.tables import LibraryTables
from services.kernel.visibility import can_see
from services.kernel.visibility import scope_for

M = TypeVar("M", bound=RecordMixin)


class LibraryService(Generic[M]):
    """Versioned writes of one record model, each published to the service's change feed."""

    # Its change feed (what the record is now, for the index) and history (who changed what).
    tables: ClassVar[LibraryTables]
    entity: ClassVar[str]

    def __init__(self, session: AsyncSession, repo: Repository[M]) -> None:
        self.session = session
        self.repo = repo

    def document(self, record: M) -> dict[str, Any]:
        """The record's search document (documents.py), carried by its change-feed entry."""
        raise NotImplementedError(f"{type(self).__name__} passes each document to _publish")

    def _may_change(self, record: M, if_match: str | None, actor: Actor) -> int:
        """The version the caller may change: 403 not theirs, 428 no If-Match, 412 stale."""
        ensure_may_write(record.owner_org, actor)
        return expected_version(if_match, record.version)

    async def _create_or_replace(
        self,
        key: Mapping[str, Any],
        create: Callable[[], Awaitable[M]],
        replace: Callable[[M], Awaitable[M]],
        *,
        find: Callable[[], Awaitable[M | None]] | None = None,
    ) -> tuple[M, UpsertResult]:
        """Create the record keyed by `key` (its owner, source and external_id), or replace it.

        Of concurrent upserts of one new key, one creates it and the others replace what it
        wrote, as a re-run would (200, usually `unchanged`), instead of a 409: the create runs
        in a savepoint, and a conflict rolls back to it and reads the key again. In a bulk
        request each line already has the caller's savepoint, so the conflict goes up to
        `upsert_lines`, which sends the line once more.
        """
        lookup = find or (lambda: self.repo.get_live_by(**key))
        existing = await lookup()
        if existing is None:
            if self.session.in_nested_transaction():
                return await create(), UpsertResult.CREATED
            try:
                async with self.session.begin_nested():
                    return await create(), UpsertResult.CREATED
            except Conflict:
                # The key's check or its unique index saw the other writer's record.
                existing = await self.repo.get_live_by(**key)
                if existing is None:  # another identifier conflicts (a DOI, a USCC): a real 409
                    raise
        before = existing.version
        record = await replace(existing)
        return record, UpsertResult.of_replace(before, record.version)

    async def _insert(self, record_id: str, values: dict[str, Any], actor: Actor) -> M:
        """A new record at version 1, its history and its change-feed entry."""
        now = utcnow()
        record = self.repo.model(id=record_id, version=1, created_at=now, updated_at=now, **values)
        await self.repo.add(record)
        self._remember(record_id, 1, "create", actor, field_changes(None, values))
        await self._publish(record)
        return record

    async def _store(self, record: M, expected: int, changed: dict[str, Any], actor: Actor) -> M:
        """Write `changed` if the record is still at `expected` (412 if not), and its history;
        the new version."""
        before = {name: getattr(record, name) for name in changed}
        values = {**changed, "updated_at": utcnow()}
        if not await self.repo.update_if_version(record.id, expected, values):
            raise_stale(await self._current_version(record.id))
        stored = await self.repo.get(record.id)
        assert stored is not None
        changes = field_changes(before, changed)
        self._remember(record.id, stored.version, "update", actor, changes)
        return stored

    async def _save(self, record: M, expected: int, changed: dict[str, Any], actor: Actor) -> M:
        """`_store`, then the change-feed entry of the new version."""
        stored = await self._store(record, expected, changed, actor)
        await self._publish(stored)
        return stored

    async def _soft_delete(self, record: M, expected: int, actor: Actor) -> None:
        """Mark the record deleted (the row stays) if still at `expected`; its history and a
        tombstone."""
        now = utcnow()
        if not await self.repo.update_if_version(
            record.id, expected, {"deleted_at": now, "updated_at": now}
        ):
            raise_stale(await self._current_version(record.id))
        self._remember(record.id, expected + 1, "delete", actor, {})
        await self._tombstone(record.id, expected + 1)

    def _remember(
        self, record_id: str, version: int, op: HistoryOp, actor: Actor, changes: Changes
    ) -> None:
        """One write in the record's history (kernel/history.py)."""
        record_history(self.session, self.tables.history, (record_id, version, op), actor, changes)

    async def history(self, record: M, actor: Actor, query: HistoryQuery) -> HistoryPage:
        """The record's writes, newest first: for admins and its organisation's editors."""
        if not actor.may_write(record.owner_org):
            raise Forbidden(
                "A record's history is for admins and the editors of the organisation that owns it."
            )
        return await read_history(self.session, self.tables.history, record.id, query)

    async def _publish(self, record: M, document: dict[str, Any] | None = None) -> None:
        """An `upsert` change with the record's search document (`document()` unless given)."""
        await record_change(
            self.session,
            self.tables.change,
            entity=self.entity,
            record_id=record.id,
            op="upsert",
            version=record.version,
            document=self.document(record) if document is None else document,
        )

    async def _tombstone(self, record_id: str, version: int) -> None:
        """A `delete` change: the record left the library at `version`."""
        await record_change(
            self.session,
            self.tables.change,
            entity=self.entity,
            record_id=record_id,
            op="delete",
            version=version,
            document=None,
        )

    async def _current_version(self, record_id: str) -> int:
        record = await self.repo.get(record_id, include_deleted=True)
        return record.version if record else 0


class RecordService(LibraryService[M]):
    """A record library's service: reads, deletes and bulk upserts the same way everywhere,
    around the library's own rules (its `create`, `update` and `upsert`, and the hooks)."""

    library: ClassVar[LibraryFacts]
    lookup: ClassVar[RecordLookup]
    # The writable fields: a create's and an upsert's body, and what a merge patch applies to.
    fields: ClassVar[type[BaseModel]]
    # Columns (or sets of columns) whose values name one live record (an ORCID, a DOI, a
    # series and its issue number): a second record with the same is a 409.
    unique_columns: ClassVar[tuple[str | tuple[str, ...], ...]] = ()
    # Whether bulk lines may share one savepoint (`upsert` keeps no state across lines).
    bulk_together: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "library" in cls.__dict__:
            cls.entity = cls.library.entity

    def admits(self, actor: Actor) -> Callable[[M], bool] | None:
        """Which records `actor` may see: every one in a library whose records are all public;
        else those their visibility shows the caller (a hidden one answers like a missing one,
        deleted or not)."""
        if self.library.all_public:
            return None
        # A library not all public has a `visibility` column; `M` cannot say so.
        return lambda record: can_see(actor, record.visibility, record.owner_org)  # type: ignore[attr-defined]

    # reads

    async def get(self, ref: str, actor: Actor) -> M:
        """The record `ref` names (ID or external ID); 404 if unknown or not for the caller,
        410 if deleted."""
        return await self.lookup.find(self.repo, ref, admits=self.admits(actor))

    async def list(
        self, actor: Actor, *, after: str | None, limit: int, ids: Sequence[str] | None = None
    ) -> Sequence[M]:
        """Live records the caller may see: by IDs, or a page in ID order."""
        if self.library.all_public:
            if ids is not None:
                return await self.repo.list_by_ids(ids)
            return await self.repo.list_after(after, limit)
        repo = self.repo
        if not isinstance(repo, VisibleRepository):
            raise TypeError(f"{self.library.name} has visibility: its repository must be visible")
        scope = scope_for(actor)
        if ids is not None:
            return await repo.list_visible_by_ids(scope, ids)
        return await repo.list_visible(scope, after_id=after, limit=limit)

    # writes

    async def create(self, data: Any, actor: Actor, *, key_free: bool = False) -> M:
        """A new record; `key_free`: its (source, external_id) was just looked up and is free."""
        record_id = new_id(self.library.id_prefix)
        values = self._columns(data) | {"owner_org": owner_for_create(data.owner_org, actor)}
        await self._check_references(data, values, record_id=record_id, previous=None, actor=actor)
        await self._check_identifiers(values, exclude_id=None, actor=actor, key_free=key_free)
        return await self._insert(record_id, values, actor)

    async def update(
        self, ref: str, patch: dict[str, Any], if_match: str | None, actor: Actor
    ) -> M:
        """Apply a JSON merge patch, only if the caller's ETag is current."""
        record = await self.get(ref, actor)
        expected = self._may_change(record, if_match, actor)
        data = patched(self.fields, self._as_written(record), patch)
        return await self._apply(record, expected, data, actor)

    async def upsert(
        self, source: str, external_id: str, data: Any, actor: Actor
    ) -> tuple[M, UpsertResult]:
        """Create or replace the record keyed by `(owner, source, external_id)`; imports re-run
        safely. Each organisation has its own key space, so an upsert never meets (and never
        reveals) another organisation's hidden record."""
        data = data.model_copy(update={"source": source, "external_id": external_id})
        owner = owner_for_create(data.owner_org, actor)

        async def replace(existing: M) -> M:
            ensure_may_write(existing.owner_org, actor)
            return await self._apply(existing, existing.version, data, actor)

        # The key was looked up a moment ago: one SELECT per imported line fewer (a race is
        # still caught by the unique index).
        return await self._create_or_replace(
            {"owner_org": owner, "source": source, "external_id": external_id},
            lambda: self.create(data, actor, key_free=True),
            replace,
        )

    async def delete(self, ref: str, if_match: str | None, actor: Actor) -> None:
        """Soft-delete: the row stays, the change feed gets a tombstone."""
        record = await self.get(ref, actor)
        expected = self._may_change(record, if_match, actor)
        await self._before_delete(record)
        await self._soft_delete(record, expected, actor)

    async def bulk_upsert(self, lines: Sequence[BulkLine], actor: Actor) -> BulkResponse:
        """`upsert` each valid line in its own savepoint; a refused line fails alone."""
        await self._before_bulk(lines)
        return await upsert_lines(
            self.session,
            lines,
            lambda line: self.upsert(*line.key, line.data, actor),
            together=self.bulk_together,
        )

    async def _apply(self, record: M, expected: int, data: Any, actor: Actor) -> M:
        """`record` with `data` as its fields; nothing is written when nothing changed."""
        values = self._columns(data)
        values["owner_org"] = owner_for_update(record.owner_org, values["owner_org"], actor)
        changed = changed_values(record, values)
        if not changed:
            return record  # nothing to write: no new version, no change-feed entry
        await self._check_references(
            data, changed, record_id=record.id, previous=record, actor=actor
        )
        await self._check_identifiers(values, exclude_id=record.id, actor=actor)
        return await self._save(record, expected, changed, actor)

    # hooks

    def _columns(self, data: Any) -> dict[str, Any]:
        """Validated fields as column values (derived columns added); as dumped by default."""
        values: dict[str, Any] = data.model_dump(mode="json")
        return values

    def _as_written(self, record: M) -> dict[str, Any]:
        """The record's writable fields as a caller wrote them: what a merge patch applies to."""
        return {name: getattr(record, name) for name in self.fields.model_fields}

    async def _check_references(
        self,
        data: Any,
        values: dict[str, Any],
        *,
        record_id: str,
        previous: M | None,
        actor: Actor,
    ) -> None:
        """Refuse (raise) a create or change naming records that do not exist; `values` are
        the new record's columns, or only those a change changes; nothing by default."""

    async def _before_delete(self, record: M) -> None:
        """Refuse a delete the library's rules forbid (raise); nothing by default."""

    async def _before_bulk(self, lines: Sequence[BulkLine]) -> None:
        """Checks made once for all lines (one call per peer service); nothing by default."""

    # rules

    async def _check_identifiers(
        self,
        values: Mapping[str, Any],
        *,
        exclude_id: str | None,
        actor: Actor | None = None,
        key_free: bool = False,
    ) -> None:
        """No other live record holds one of `unique_columns`, nor the owner's import key (409,
        naming the holder if the caller may see it); `key_free`: the key was just looked up."""
        keys: list[tuple[str, str, dict[str, Any]]] = []
        for unique in self.unique_columns:
            columns = (unique,) if isinstance(unique, str) else unique
            if all(values.get(column) for column in columns):
                shown = " ".join(str(values[column]) for column in columns)
                keys.append((columns[-1], shown, {c: values[c] for c in columns}))
        if values.get("source") and values.get("external_id") and not key_free:
            key = {name: values[name] for name in ("owner_org", "source", "external_id")}
            keys.append(("external_id", f"{key['source']}/{key['external_id']}", key))
        admits = self.admits(actor) if actor is not None else None
        for field, shown, match in keys:
            existing = await self.repo.get_live_by(**match)
            if existing is not None and existing.id != exclude_id:
                named = existing.id if admits is None or admits(existing) else None
                raise DuplicateIdentifier(self.entity, field, shown, named)
