"""Data access for institutions."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from services.institutions.models import Institution
from services.kernel.repository import Repository


class InstitutionRepository(Repository[Institution]):
    model = Institution

    async def parent_of(self, record_id: str) -> str | None:
        stmt = select(Institution.parent_id).where(Institution.id == record_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def count_dependents(self, record_id: str) -> int:
        """Live institutions whose parent or merge successor is `record_id`."""
        stmt = (
            select(func.count())
            .select_from(Institution)
            .where(
                Institution.deleted_at.is_(None),
                or_(Institution.parent_id == record_id, Institution.merged_into == record_id),
            )
        )
        return int((await self.session.execute(stmt)).scalar_one())
