"""Data access for experts."""

from __future__ import annotations

from collections.abc import Sequence

from services.experts.models import Expert
from services.kernel.repository import Repository


class ExpertRepository(Repository[Expert]):
    model = Expert

    async def list_by_ids(self, ids: Sequence[str]) -> Sequence[Expert]:
        stmt = self._live().where(Expert.id.in_(list(ids))).order_by(Expert.id)
        return (await self.session.execute(stmt)).scalars().all()
