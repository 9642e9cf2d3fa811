"""Business rules of the expert library; flushes, never commits (the request does)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.experts.documents import expert_document
from services.experts.exceptions import (
    DuplicateIdentifier,
    ExpertDeleted,
    ExpertNotFound,
    UnknownInstitutions,
)
from services.experts.models import ENTITY, ID_PREFIX, Expert, ExpertChange
from services.experts.repository import ExpertRepository
from services.experts.schemas import AFFILIATIONS, WRITABLE_FIELDS, ExpertFields
from services.kernel import identifiers
from services.kernel.changefeed import record_change
from services.kernel.concurrency import expected_version, raise_stale
from services.kernel.db import utcnow
from services.kernel.errors import BadRequest, validation_failed
from services.kernel.http import ServiceClient
from services.kernel.ids import new_id
from services.kernel.internal_auth import Actor
from services.kernel.merge_patch import apply_merge_patch
from services.kernel.ownership import (
    UpsertResult,
    ensure_may_hand_over,
    ensure_may_write,
    owner_for_create,
)
from services.kernel.peers import missing_ids
from services.kernel.pinyin import person_name_pinyin

_EXTERNAL_SCHEMES = {
    "orcid": ("orcid", identifiers.normalize_orcid),
}


class ExpertService:
    def __init__(self, session: AsyncSession, institutions: ServiceClient) -> None:
        self.session = session
        self.repo = ExpertRepository(session)
        self.institutions = institutions

    # reads

    async def get(self, ref: str) -> Expert:
        """An expert by `exp_…` ID or `orcid:…`; 404 if unknown, 410 if deleted."""
        scheme, sep, value = ref.partition(":")
        if sep:
            if scheme not in _EXTERNAL_SCHEMES:
                raise BadRequest(f"Unknown ID scheme {scheme[:20]!r}; use an exp_… ID or orcid:….")
            column, normalize = _EXTERNAL_SCHEMES[scheme]
            try:
                normalized = normalize(value)
            except identifiers.IdentifierError as exc:
                raise BadRequest(f"{scheme}:{value[:40]}: {exc}") from exc
            record = await self.repo.get_live_by(**{column: normalized})
            if record is None:
                raise ExpertNotFound(ref)
            return record
        record = await self.repo.get(ref, include_deleted=True)
        if record is None:
            raise ExpertNotFound(ref)
        if record.is_deleted:
            raise ExpertDeleted(ref)
        return record

    async def list(
        self, *, after: str | None, limit: int, ids: Sequence[str] | None = None
    ) -> Sequence[Expert]:
        if ids is not None:
            return await self.repo.list_by_ids(ids)
        return await self.repo.list_after(after, limit)

    # writes
    #
    # Institutions are checked over HTTP before this service touches its own database, so no
    # transaction (and on SQLite no write lock) is held while waiting for the other service.

    async def create(self, data: ExpertFields, actor: Actor) -> Expert:
        values = data.model_dump(mode="json")
        values["owner_org"] = owner_for_create(values.get("owner_org"), actor)
        await self._check_institutions(values["affiliations"])
        return await self._insert(values)

    async def update(
        self, ref: str, patch: dict[str, Any], if_match: str | None, actor: Actor
    ) -> Expert:
        """Apply a JSON merge patch, only if the caller's ETag is current."""
        if patch.get("affiliations") is not None:
            # A merge patch replaces a list whole, so the patched list is the new one.
            await self._check_institutions(_validated_affiliations(patch["affiliations"]))
        record = await self.get(ref)
        ensure_may_write(record.owner_org, actor)
        expected = expected_version(if_match, record.version)
        current = {field: getattr(record, field) for field in WRITABLE_FIELDS}
        merged = apply_merge_patch(current, patch)
        try:
            values = ExpertFields.model_validate(merged).model_dump(mode="json")
        except ValidationError as exc:
            raise validation_failed(exc) from exc
        if values["owner_org"] is None:
            values["owner_org"] = record.owner_org
        return await self._apply(record, expected, values, actor)

    async def delete(self, ref: str, if_match: str | None, actor: Actor) -> None:
        """Soft-delete: the row stays, the change feed gets a tombstone."""
        record = await self.get(ref)
        ensure_may_write(record.owner_org, actor)
        expected = expected_version(if_match, record.version)
        now = utcnow()
        if not await self.repo.update_if_version(
            record.id, expected, {"deleted_at": now, "updated_at": now}
        ):
            raise_stale(await self._current_version(record.id))
        await record_change(
            self.session,
            ExpertChange,
            entity=ENTITY,
            record_id=record.id,
            op="delete",
            version=expected + 1,
            document=None,
        )

    async def upsert(
        self, source: str, external_id: str, data: ExpertFields, actor: Actor
    ) -> tuple[Expert, UpsertResult]:
        """Create or replace the record keyed by `(source, external_id)` (imports re-run safely)."""
        values = data.model_copy(update={"source": source, "external_id": external_id}).model_dump(
            mode="json"
        )
        await self._check_institutions(values["affiliations"])
        existing = await self.repo.get_live_by(source=source, external_id=external_id)
        if existing is None:
            values["owner_org"] = owner_for_create(values.get("owner_org"), actor)
            return await self._insert(values), UpsertResult.CREATED
        ensure_may_write(existing.owner_org, actor)
        if values["owner_org"] is None:
            values["owner_org"] = existing.owner_org
        before = existing.version
        record = await self._apply(existing, existing.version, values, actor)
        return record, (
            UpsertResult.UPDATED if record.version != before else UpsertResult.UNCHANGED
        )

    # rules

    async def _insert(self, values: dict[str, Any]) -> Expert:
        values.update(_derived(values))
        await self._check_unique(values, exclude_id=None)
        now = utcnow()
        record = Expert(id=new_id(ID_PREFIX), version=1, created_at=now, updated_at=now, **values)
        await self.repo.add(record)
        await self._publish(record)
        return record

    async def _apply(
        self, record: Expert, expected: int, values: dict[str, Any], actor: Actor
    ) -> Expert:
        ensure_may_hand_over(record.owner_org, values["owner_org"], actor)
        values.update(_derived(values))
        changed = {k: v for k, v in values.items() if getattr(record, k) != v}
        if not changed:
            return record  # nothing to write: no new version, no change-feed entry
        await self._check_unique(values, exclude_id=record.id)
        changed["updated_at"] = utcnow()
        if not await self.repo.update_if_version(record.id, expected, changed):
            raise_stale(await self._current_version(record.id))
        refreshed = await self.repo.get(record.id)
        assert refreshed is not None
        await self._publish(refreshed)
        return refreshed

    async def _publish(self, record: Expert) -> None:
        await record_change(
            self.session,
            ExpertChange,
            entity=ENTITY,
            record_id=record.id,
            op="upsert",
            version=record.version,
            document=expert_document(record),
        )

    async def _current_version(self, record_id: str) -> int:
        record = await self.repo.get(record_id, include_deleted=True)
        return record.version if record else 0

    async def _check_institutions(self, affiliations: Sequence[dict[str, Any]]) -> None:
        """Every affiliation names a live institution; one call for the whole list."""
        ids = [a["institution_id"] for a in affiliations]
        if not ids:
            return
        unknown = await missing_ids(self.institutions, "/institutions", ids)
        if unknown:
            raise UnknownInstitutions([(i, ref) for i, ref in enumerate(ids) if ref in unknown])

    async def _check_unique(self, values: dict[str, Any], *, exclude_id: str | None) -> None:
        orcid = values.get("orcid")
        if orcid:
            existing = await self.repo.get_live_by(orcid=orcid)
            if existing is not None and existing.id != exclude_id:
                raise DuplicateIdentifier("orcid", orcid, existing.id)
        if values.get("source") and values.get("external_id"):
            existing = await self.repo.get_live_by(
                source=values["source"], external_id=values["external_id"]
            )
            if existing is not None and existing.id != exclude_id:
                raise DuplicateIdentifier(
                    "external_id", f"{values['source']}/{values['external_id']}", existing.id
                )


def _derived(values: dict[str, Any]) -> dict[str, str]:
    """Columns computed from the caller's fields: the pinyin of the name and its initials."""
    pinyin = person_name_pinyin(values["name"])
    return {"name_pinyin": pinyin.text, "name_initials": pinyin.initials}


def _validated_affiliations(value: Any) -> list[dict[str, Any]]:
    try:
        return AFFILIATIONS.dump_python(AFFILIATIONS.validate_python(value), mode="json")
    except ValidationError as exc:
        raise validation_failed(exc, prefix=("body", "affiliations")) from exc
