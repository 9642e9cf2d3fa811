"""Business rules of the expert library; flushes, never commits (the request does)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.experts.documents import expert_document
from services.experts.exceptions import UnknownInstitutions
from services.experts.library import LIBRARY
from services.experts.models import TABLES
from services.experts.models import Expert
from services.experts.repository import ExpertRepository
from services.experts.schemas import AFFILIATIONS
from services.experts.schemas import ExpertFields
from services.kernel import identifiers
from services.kernel.bulk import BulkLine
from services.kernel.errors import validation_failed
from services.kernel.http import ServiceClient
from services.kernel.internal_auth import Actor
from services.kernel.lookup import ExternalId
from services.kernel.lookup import RecordLookup
from services.kernel.ownership import UpsertResult
from services.kernel.peers import missing_ids
from services.kernel.pinyin import person_name_pinyin
from services.kernel.service import RecordService

LOOKUP = RecordLookup.of_library(
    LIBRARY, {"orcid": ExternalId("orcid", identifiers.normalize_orcid)}
)


class ExpertService(RecordService[Expert]):
    tables = TABLES
    library = LIBRARY
    lookup = LOOKUP
    fields = ExpertFields
    unique_columns = ("orcid",)
    repo: ExpertRepository

    def __init__(self, session: AsyncSession, institutions: ServiceClient) -> None:
        super().__init__(session, ExpertRepository(session))
        self.institutions = institutions
        # Institution IDs already confirmed live in this request (a bulk asks once for all).
        self.live_institutions: set[str] = set()

    def document(self, record: Expert) -> dict[str, Any]:
        return expert_document(record)

    # writes
    #
    # Institutions are checked over HTTP before this service touches its own database, so no
    # transaction (and on SQLite no write lock) is held while waiting for the other service.

    async def update(
        self, ref: str, patch: dict[str, Any], if_match: str | None, actor: Actor
    ) -> Expert:
        """Apply a JSON merge patch, only if the caller's ETag is current."""
        if patch.get("affiliations") is not None:
            # A merge patch replaces a list whole, so the patched list is the new one.
            await self._check_institutions(_validated_affiliations(patch["affiliations"]))
        return await super().update(ref, patch, if_match, actor)

    async def upsert(
        self, source: str, external_id: str, data: ExpertFields, actor: Actor
    ) -> tuple[Expert, UpsertResult]:
        await self._check_institutions([a.model_dump() for a in data.affiliations])
        return await super().upsert(source, external_id, data, actor)

    async def _before_bulk(self, lines: Sequence[BulkLine]) -> None:
        """The institutions of every line, checked in one call before this service's
        transaction starts; a line naming a missing one is refused alone."""
        wanted = {a.institution_id for line in lines if line.ok for a in line.data.affiliations}
        unknown = await missing_ids(self.institutions, "/institutions", wanted) if wanted else set()
        self.live_institutions |= wanted - unknown
        for line in lines:
            if line.ok:
                ids = [a.institution_id for a in line.data.affiliations]
                missing = [(i, ref) for i, ref in enumerate(ids) if ref in unknown]
                if missing:
                    line.reject(UnknownInstitutions(missing))

    # rules

    def _columns(self, data: ExpertFields) -> dict[str, Any]:
        values = super()._columns(data)
        values.update(_derived(values))
        return values

    async def _check_references(
        self,
        data: ExpertFields,
        values: dict[str, Any],
        *,
        record_id: str,
        previous: Expert | None,
        actor: Actor,
    ) -> None:
        if "affiliations" in values:
            await self._check_institutions(values["affiliations"])

    async def _check_institutions(self, affiliations: Sequence[dict[str, Any]]) -> None:
        """Every affiliation names a live institution; one call for the whole list."""
        ids = [a["institution_id"] for a in affiliations]
        unconfirmed = [i for i in ids if i not in self.live_institutions]
        if not unconfirmed:
            return
        unknown = await missing_ids(self.institutions, "/institutions", unconfirmed)
        if unknown:
            raise UnknownInstitutions([(i, ref) for i, ref in enumerate(ids) if ref in unknown])
        self.live_institutions.update(unconfirmed)


def _derived(values: dict[str, Any]) -> dict[str, str]:
    """Columns computed from the caller's fields: the pinyin of the name and its initials."""
    pinyin = person_name_pinyin(values["name"])
    return {"name_pinyin": pinyin.text, "name_initials": pinyin.initials}


def _validated_affiliations(value: Any) -> list[dict[str, Any]]:
    try:
        return AFFILIATIONS.dump_python(AFFILIATIONS.validate_python(value), mode="json")
    except ValidationError as exc:
        raise validation_failed(exc, prefix=("body", "affiliations")) from exc


async def count_institution_references(session: AsyncSession, institution_id: str) -> int:
    """Live experts with an affiliation at the institution (asked before it is deleted)."""
    candidates = await ExpertRepository(session).live_mentioning(
        Expert.affiliations, institution_id
    )
    return sum(
        any(a["institution_id"] == institution_id for a in expert.affiliations)
        for expert in candidates
    )
