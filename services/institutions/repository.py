"""Data access for institutions."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy import select

from services.institutions.models import Institution
from services.kernel.repository import Repository


class InstitutionRepository(Repository[Institution]):
    model = Institution

    async def parent_of(self, record_id: str) -> str | None:
        stmt = select(Institution.parent_id).where(Institution.id == record_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def count_dependents(self, record_id: str) -> tuple[int, int]:
        """Live institutions below `record_id` in the hierarchy, and merged into it."""
        counts = []
        for column in (Institution.parent_id, Institution.merged_into):
            stmt = (
                select(func.count())
                .select_from(Institution)
                .where(Institution.deleted_at.is_(None), column == record_id)
            )
            counts.append(int((await self.session.execute(stmt)).scalar_one()))
        return counts[0], counts[1]
