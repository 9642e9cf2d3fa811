"""A generic async repository over one record model: get, add, versioned update, keyset list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from typing import Generic
from typing import TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import Text
from sqlalchemy import cast
from sqlalchemy import false
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.db import rowcount
from services.kernel.errors import Conflict
from services.kernel.records import RecordMixin
from services.kernel.visibility import VisibilityScope

M = TypeVar("M", bound=RecordMixin)


class Repository(Generic[M]):
    """Data access for one model; services call it and flush, the request boundary commits."""

    model: type[M]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _live(self) -> Select[M]:
        return select(self.model).where(self.model.deleted_at.is_(None))

    async def get(self, record_id: str, *, include_deleted: bool = False) -> M | None:
        record = await self.session.get(self.model, record_id, populate_existing=True)
        if record is None or (record.is_deleted and not include_deleted):
            return None
        return record

    async def get_live_by(self, **columns: Any) -> M | None:
        """The live record whose columns equal the given values, if any."""
        stmt = self._live().filter_by(**columns).limit(1)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def exists(self, record_id: str) -> bool:
        stmt = select(self.model.id).where(
            self.model.id == record_id, self.model.deleted_at.is_(None)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def add(self, record: M) -> M:
        self.session.add(record)
        await flush_or_conflict(self.session)
        return record

    async def update_if_version(
        self, record_id: str, expected: int, values: dict[str, Any]
    ) -> bool:
        """Write `values` and bump the version only if the stored version is still `expected`.

        A conditional UPDATE, so of two writers holding the same version exactly one wins,
        on PostgreSQL (row lock, then WHERE re-checked) and SQLite (one writer at a time).
        """
        stmt = (
            update(self.model)
            .where(self.model.id == record_id, self.model.version == expected)
            .values(**values, version=expected + 1)
            .execution_options(synchronize_session=False)
        )
        try:
            result = await self.session.execute(stmt)
        except IntegrityError as exc:
            raise UniqueRace() from exc
        return rowcount(result) == 1

    async def live_mentioning(self, column: Any, record_id: str) -> Sequence[M]:
        """Live records whose JSON `column` holds `record_id` as a string (IDs are opaque,
        so a record that refers to one holds it quoted); the caller checks where."""
        stmt = self._live().where(cast(column, Text).contains(f'"{record_id}"', autoescape=True))
        return (await self.session.execute(stmt)).scalars().all()

    async def list_by_ids(self, ids: Sequence[str]) -> Sequence[M]:
        """The live records among `ids`, in ID order."""
        stmt = self._live().where(self.model.id.in_(list(ids))).order_by(self.model.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def list_after(self, after_id: str | None, limit: int) -> Sequence[M]:
        """Live records in ID order after `after_id` (keyset paging, stable under writes)."""
        stmt = self._live().order_by(self.model.id).limit(limit)
        if after_id:
            stmt = stmt.where(self.model.id > after_id)
        return (await self.session.execute(stmt)).scalars().all()


class VisibleRepository(Repository[M]):
    """A repository of records that carry their own `visibility` and `owner_org`: lists admit
    only what the caller's scope may see, in SQL."""

    async def list_visible(
        self, scope: VisibilityScope, *, after_id: str | None, limit: int
    ) -> Sequence[M]:
        """Live records the scope admits, in ID order after `after_id`."""
        stmt = self._visible(scope).order_by(self.model.id).limit(limit)
        if after_id:
            stmt = stmt.where(self.model.id > after_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def list_visible_by_ids(self, scope: VisibilityScope, ids: Sequence[str]) -> Sequence[M]:
        stmt = self._visible(scope).where(self.model.id.in_(list(ids))).order_by(self.model.id)
        return (await self.session.execute(stmt)).scalars().all()

    def _visible(self, scope: VisibilityScope) -> Select[M]:
        # Plain columns only (not `_live`, which a repository may widen with deferred bodies).
        stmt = select(self.model).where(self.model.deleted_at.is_(None))
        condition = self.visible_in(scope)
        return stmt if condition is None else stmt.where(condition)

    def visible_in(self, scope: VisibilityScope) -> ColumnElement[bool] | None:
        """The scope as a WHERE clause (the same rule as `VisibilityScope.admits`); None: all."""
        if scope.levels is None:
            return None
        model: Any = self.model
        clauses: list[ColumnElement[bool]] = []
        if scope.levels:
            clauses.append(model.visibility.in_(sorted(scope.levels)))
        if scope.own_org is not None:
            clauses.append(model.owner_org == scope.own_org)
        return or_(*clauses) if clauses else false()


class UniqueRace(Conflict):
    """A unique index refused a write that the service's own check had let through: another
    transaction wrote the same identifier at the same moment (PostgreSQL checks the index
    when the other commits). The statement's savepoint must be rolled back; reading again
    then sees the other write. Upserts do that and answer as a re-run would."""

    def __init__(self) -> None:
        super().__init__(
            "Another write with the same unique identifier landed at the same moment; "
            "read the record again and retry."
        )


async def flush_or_conflict(session: AsyncSession) -> None:
    """Flush; a uniqueness race that slipped past the service's checks becomes a 409."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise UniqueRace() from exc
