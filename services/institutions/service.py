"""Business rules of the institution library; flushes, never commits (the request does)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.institutions.documents import institution_document
from services.institutions.exceptions import HasDependents
from services.institutions.exceptions import InvalidReference
from services.institutions.library import LIBRARY
from services.institutions.models import TABLES
from services.institutions.models import Institution
from services.institutions.references import Referrers
from services.institutions.repository import InstitutionRepository
from services.institutions.schemas import InstitutionFields
from services.kernel import identifiers
from services.kernel.internal_auth import Actor
from services.kernel.locks import lock_for_transaction
from services.kernel.lookup import ExternalId
from services.kernel.lookup import RecordLookup
from services.kernel.service import RecordService

# Deeper than any real hierarchy (ministry → university → school → department); also the
# bound that stops a walk up a corrupted chain.
MAX_HIERARCHY_DEPTH = 32
# Writes that read the hierarchy or the merges to check them take this lock first
# (kernel/locks.py): no loop, a live parent or successor, nothing left pointing at a deleted
# institution, under concurrent writers.
HIERARCHY_LOCK = "institutions-hierarchy"
# Columns that link institutions to each other.
LINKS = ("parent_id", "merged_into")

LOOKUP = RecordLookup.of_library(
    LIBRARY,
    {
        "ror": ExternalId("ror_id", identifiers.normalize_ror),
        "uscc": ExternalId("uscc", identifiers.normalize_uscc),
    },
)


class InstitutionService(RecordService[Institution]):
    tables = TABLES
    library = LIBRARY
    lookup = LOOKUP
    fields = InstitutionFields
    unique_columns = ("uscc", "ror_id")
    repo: InstitutionRepository

    def __init__(self, session: AsyncSession, referrers: Referrers) -> None:
        super().__init__(session, InstitutionRepository(session))
        self.referrers = referrers

    def document(self, record: Institution) -> dict[str, Any]:
        return institution_document(record)

    # writes

    async def _before_delete(self, record: Institution) -> None:
        """Refused (409) while institutions, or records of the libraries naming institutions
        (experts, outcomes, special databases), still refer to it."""
        referring = await self.referrers.count(record.id)
        await lock_for_transaction(self.session, HIERARCHY_LOCK)
        children, merged = await self.repo.count_dependents(record.id)
        referring = {"children": children, "merged": merged, **referring}
        if any(referring.values()):
            raise HasDependents(record.id, referring)

    # rules

    async def _check_references(
        self,
        data: InstitutionFields,
        values: dict[str, Any],
        *,
        record_id: str,
        previous: Institution | None,
        actor: Actor,
    ) -> None:
        """A parent or successor set (or, on a change, touched) is checked under the
        hierarchy lock: alive, not itself, no loop, not merged on."""
        if previous is None:
            touched = any(values.get(link) for link in LINKS)
        else:
            touched = bool(values.keys() & set(LINKS))
        if touched:
            await lock_for_transaction(self.session, HIERARCHY_LOCK)
        parent_id = values.get("parent_id")
        if parent_id:
            if parent_id == record_id:
                raise InvalidReference("parent_id", "an institution cannot be its own parent")
            if not await self.repo.exists(parent_id):
                raise InvalidReference("parent_id", f"no institution {parent_id!r}")
            await self._refuse_cycle(record_id, parent_id)
        merged_into = values.get("merged_into")
        if merged_into:
            if merged_into == record_id:
                raise InvalidReference("merged_into", "an institution cannot merge into itself")
            successor = await self.repo.get(merged_into)
            if successor is None:
                raise InvalidReference("merged_into", f"no institution {merged_into!r}")
            if successor.merged_into:
                # Merging only into institutions that are not merged themselves keeps merges
                # free of loops (A into B, then B into A) and every chain pointing at a live end.
                raise InvalidReference(
                    "merged_into",
                    f"{merged_into} was itself merged into {successor.merged_into}; merge into "
                    f"{successor.merged_into} instead",
                )

    async def _refuse_cycle(self, record_id: str, parent_id: str) -> None:
        node = parent_id
        for _ in range(MAX_HIERARCHY_DEPTH):
            parent = await self.repo.parent_of(node)
            if parent is None:
                return
            if parent == record_id:
                raise InvalidReference(
                    "parent_id",
                    f"{parent_id} is below this institution in the hierarchy; that would "
                    "make a loop",
                )
            node = parent
        raise InvalidReference(
            "parent_id", f"the hierarchy above {parent_id} is deeper than {MAX_HIERARCHY_DEPTH}"
        )
