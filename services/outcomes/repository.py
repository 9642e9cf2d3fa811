"""Data access for outcomes: full text loaded only for single records, visibility in SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, false, or_, select
from sqlalchemy.orm import undefer

from services.kernel.repository import Repository
from services.kernel.visibility import VisibilityScope
from services.outcomes.models import Outcome


class OutcomeRepository(Repository[Outcome]):
    model = Outcome

    def _live(self) -> Select[tuple[Outcome]]:
        # Single-record lookups (by DOI, by source key) return the whole record.
        return super()._live().options(undefer(Outcome.full_text))

    async def get(self, record_id: str, *, include_deleted: bool = False) -> Outcome | None:
        record = await self.session.get(
            Outcome, record_id, options=[undefer(Outcome.full_text)], populate_existing=True
        )
        if record is None or (record.is_deleted and not include_deleted):
            return None
        return record

    async def list_visible(
        self, scope: VisibilityScope, *, after_id: str | None, limit: int
    ) -> Sequence[Outcome]:
        """Live records the scope admits, in ID order after `after_id`, without full texts."""
        stmt = self._visible(scope).order_by(Outcome.id).limit(limit)
        if after_id:
            stmt = stmt.where(Outcome.id > after_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def list_visible_by_ids(
        self, scope: VisibilityScope, ids: Sequence[str]
    ) -> Sequence[Outcome]:
        stmt = self._visible(scope).where(Outcome.id.in_(list(ids))).order_by(Outcome.id)
        return (await self.session.execute(stmt)).scalars().all()

    def _visible(self, scope: VisibilityScope) -> Select[tuple[Outcome]]:
        stmt = select(Outcome).where(Outcome.deleted_at.is_(None))
        condition = visible_in(scope)
        return stmt if condition is None else stmt.where(condition)


def visible_in(scope: VisibilityScope) -> ColumnElement[bool] | None:
    """The scope as a WHERE clause (the same rule as `VisibilityScope.admits`); None = all."""
    if scope.levels is None:
        return None
    clauses: list[ColumnElement[bool]] = []
    if scope.levels:
        clauses.append(Outcome.visibility.in_(sorted(scope.levels)))
    if scope.own_org is not None:
        clauses.append(Outcome.owner_org == scope.own_org)
    return or_(*clauses) if clauses else false()
