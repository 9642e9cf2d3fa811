"""Data access for outcomes: full text loaded only for single records, visibility in SQL."""

from __future__ import annotations

from sqlalchemy import Select
from sqlalchemy.orm import undefer

from services.kernel.repository import VisibleRepository
from services.outcomes.models import Outcome


class OutcomeRepository(VisibleRepository[Outcome]):
    model = Outcome

    def _live(self) -> Select[Outcome]:
        # Single-record lookups (by DOI, by source key) return the whole record.
        return super()._live().options(undefer(Outcome.full_text))

    async def get(self, record_id: str, *, include_deleted: bool = False) -> Outcome | None:
        record = await self.session.get(
            Outcome, record_id, options=[undefer(Outcome.full_text)], populate_existing=True
        )
        if record is None or (record.is_deleted and not include_deleted):
            return None
        return record
