"""Business rules of the expert library; flushes, never commits (the request does)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.experts.documents import expert_document
from services.experts.exceptions import UnknownInstitutions
from services.experts.library import LIBRARY
from services.experts.models import TABLES, Expert
from services.experts.repository import ExpertRepository
from services.experts.schemas import AFFILIATIONS, WRITABLE_FIELDS, ExpertFields
from services.kernel import identifiers
from services.kernel.bulk import BulkLine
from services.kernel.errors import validation_failed
from services.kernel.http import ServiceClient
from services.kernel.internal_auth import Actor
from services.kernel.lookup import ExternalId, RecordLookup
from services.kernel.merge_patch import patched
from services.kernel.ownership import (
    UpsertResult,
    ensure_may_write,
    owner_for_create,
    owner_for_update,
)
from services.kernel.peers import missing_ids
from services.kernel.pinyin import person_name_pinyin
from services.kernel.record_ids import new_id
from services.kernel.records import changed_values
from services.kernel.service import RecordService

LOOKUP = RecordLookup.of_library(
    LIBRARY, {"orcid": ExternalId("orcid", identifiers.normalize_orcid)}
)


class ExpertService(RecordService[Expert]):
    change_model = TABLES.change
    library = LIBRARY
    lookup = LOOKUP
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

    async def create(self, data: ExpertFields, actor: Actor) -> Expert:
        values = data.model_dump(mode="json")
        values["owner_org"] = owner_for_create(values.get("owner_org"), actor)
        await self._check_institutions(values["affiliations"])
        return await self._add(values)

    async def update(
        self, ref: str, patch: dict[str, Any], if_match: str | None, actor: Actor
    ) -> Expert:
        """Apply a JSON merge patch, only if the caller's ETag is current."""
        if patch.get("affiliations") is not None:
            # A merge patch replaces a list whole, so the patched list is the new one.
            await self._check_institutions(_validated_affiliations(patch["affiliations"]))
        record = await self.get(ref, actor)
        expected = self._may_change(record, if_match, actor)
        current = {field: getattr(record, field) for field in WRITABLE_FIELDS}
        values = patched(ExpertFields, current, patch).model_dump(mode="json")
        return await self._apply(record, expected, values, actor)

    async def upsert(
        self, source: str, external_id: str, data: ExpertFields, actor: Actor
    ) -> tuple[Expert, UpsertResult]:
        """Create or replace the record keyed by `(owner, source, external_id)`; imports re-run
        safely, and each organisation has its own key space."""
        values = data.model_copy(update={"source": source, "external_id": external_id}).model_dump(
            mode="json"
        )
        await self._check_institutions(values["affiliations"])
        owner = owner_for_create(values.get("owner_org"), actor)

        async def replace(existing: Expert) -> Expert:
            ensure_may_write(existing.owner_org, actor)
            return await self._apply(existing, existing.version, dict(values), actor)

        return await self._create_or_replace(
            {"owner_org": owner, "source": source, "external_id": external_id},
            lambda: self._add({**values, "owner_org": owner}),
            replace,
        )

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

    async def _add(self, values: dict[str, Any]) -> Expert:
        values.update(_derived(values))
        await self._check_identifiers(values, exclude_id=None)
        return await self._insert(new_id(LIBRARY.id_prefix), values)

    async def _apply(
        self, record: Expert, expected: int, values: dict[str, Any], actor: Actor
    ) -> Expert:
        values["owner_org"] = owner_for_update(record.owner_org, values["owner_org"], actor)
        values.update(_derived(values))
        changed = changed_values(record, values)
        if not changed:
            return record  # nothing to write: no new version, no change-feed entry
        await self._check_identifiers(values, exclude_id=record.id)
        return await self._save(record, expected, changed)

    async def _check_institutions(self, affiliations: Sequence[dict[str, Any]]) -> None:
        """Every affiliation names a live institution; one call for the whole list."""
        ids = [a["institution_id"] for a in affiliations]
        unconfirmed = [i for i in ids if i not in self.live_institutions]
        if not unconfirmed:
            return
        unknown = await missing_ids(self.institutions, "/institutions", unconfirmed)
        if unknown:
            raise UnknownInstitutions([(i, ref) for i, ref in enumerate(ids) if ref in unknown])


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
