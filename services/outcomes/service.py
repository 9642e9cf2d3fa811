"""Business rules of the outcome library; flushes, never commits (the request does)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel import identifiers
from services.kernel.changefeed import record_change
from services.kernel.concurrency import expected_version, raise_stale
from services.kernel.db import utcnow
from services.kernel.errors import BadRequest, Forbidden, validation_failed
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
from services.kernel.visibility import can_see, scope_for
from services.outcomes.documents import outcome_document
from services.outcomes.exceptions import (
    DuplicateIdentifier,
    OutcomeDeleted,
    OutcomeNotFound,
    UnknownReferences,
)
from services.outcomes.models import ENTITY, ID_PREFIX, Outcome, OutcomeChange
from services.outcomes.repository import OutcomeRepository
from services.outcomes.schemas import (
    WRITABLE_FIELDS,
    OutcomeFields,
    format_published,
    parse_published,
)


@dataclass(frozen=True, slots=True)
class Peers:
    """Clients of the services whose IDs outcomes refer to."""

    experts: ServiceClient
    institutions: ServiceClient


class OutcomeService:
    def __init__(self, session: AsyncSession, peers: Peers) -> None:
        self.session = session
        self.peers = peers
        self.repo = OutcomeRepository(session)

    # reads

    async def get(self, ref: str, actor: Actor) -> Outcome:
        """An outcome by `out_…` ID or `doi:…`; 404 if unknown or not visible, 410 if deleted."""
        scheme, sep, value = ref.partition(":")
        if sep:
            if scheme.lower() != "doi":
                raise BadRequest(f"Unknown ID scheme {scheme[:20]!r}; use an out_… ID or doi:….")
            try:
                doi = identifiers.normalize_doi(value)
            except identifiers.IdentifierError as exc:
                raise BadRequest(f"doi:{value[:60]}: {exc}") from exc
            record = await self.repo.get_live_by(doi=doi)
        else:
            record = await self.repo.get(ref, include_deleted=True)
        # An invisible record answers exactly like a missing one, deleted or not.
        if record is None or not can_see(actor, record.visibility, record.owner_org):
            raise OutcomeNotFound(ref)
        if record.is_deleted:
            raise OutcomeDeleted(ref)
        return record

    async def list(
        self, actor: Actor, *, after: str | None, limit: int, ids: Sequence[str] | None = None
    ) -> Sequence[Outcome]:
        """Visible live outcomes, without full texts: by IDs, or a page in ID order."""
        scope = scope_for(actor)
        if ids is not None:
            return await self.repo.list_visible_by_ids(scope, ids)
        return await self.repo.list_visible(scope, after_id=after, limit=limit)

    # writes

    async def create(self, data: OutcomeFields, actor: Actor) -> Outcome:
        owner = owner_for_create(data.owner_org, actor)
        await self._check_references(data, previous=None)
        values = _columns(data) | {"owner_org": owner}
        await self._check_unique(values, exclude_id=None, actor=actor)
        now = utcnow()
        record = Outcome(id=new_id(ID_PREFIX), version=1, created_at=now, updated_at=now, **values)
        await self.repo.add(record)
        await self._publish(record)
        return record

    async def update(
        self, ref: str, patch: dict[str, Any], if_match: str | None, actor: Actor
    ) -> Outcome:
        """Apply a JSON merge patch, only if the caller's ETag is current."""
        record = await self.get(ref, actor)
        ensure_may_write(record.owner_org, actor)
        expected = expected_version(if_match, record.version)
        merged = apply_merge_patch(_fields_of(record), patch)
        try:
            data = OutcomeFields.model_validate(merged)
        except ValidationError as exc:
            raise validation_failed(exc) from exc
        return await self._apply(record, expected, data, actor)

    async def delete(self, ref: str, if_match: str | None, actor: Actor) -> None:
        """Soft-delete: the row stays, the change feed gets a tombstone."""
        record = await self.get(ref, actor)
        ensure_may_write(record.owner_org, actor)
        expected = expected_version(if_match, record.version)
        now = utcnow()
        if not await self.repo.update_if_version(
            record.id, expected, {"deleted_at": now, "updated_at": now}
        ):
            raise_stale(await self._current_version(record.id))
        await record_change(
            self.session,
            OutcomeChange,
            entity=ENTITY,
            record_id=record.id,
            op="delete",
            version=expected + 1,
            document=None,
        )

    async def upsert(
        self, source: str, external_id: str, data: OutcomeFields, actor: Actor
    ) -> tuple[Outcome, UpsertResult]:
        """Create or replace the record keyed by `(source, external_id)` (imports re-run safely)."""
        data = data.model_copy(update={"source": source, "external_id": external_id})
        existing = await self.repo.get_live_by(source=source, external_id=external_id)
        if existing is None:
            return await self.create(data, actor), UpsertResult.CREATED
        if not can_see(actor, existing.visibility, existing.owner_org):
            # Neither its ID nor its owner is named: the caller may not see the record.
            raise Forbidden(
                f"({source}, {external_id}) keys a record you may not change; "
                "use another external_id."
            )
        ensure_may_write(existing.owner_org, actor)
        before = existing.version
        record = await self._apply(existing, existing.version, data, actor)
        return record, (
            UpsertResult.UPDATED if record.version != before else UpsertResult.UNCHANGED
        )

    # rules

    async def _apply(
        self, record: Outcome, expected: int, data: OutcomeFields, actor: Actor
    ) -> Outcome:
        values = _columns(data)
        if values["owner_org"] is None:
            values["owner_org"] = record.owner_org
        ensure_may_hand_over(record.owner_org, values["owner_org"], actor)
        changed = {k: v for k, v in values.items() if getattr(record, k) != v}
        if not changed:
            return record  # nothing to write: no new version, no change-feed entry
        await self._check_references(data, previous=record)
        await self._check_unique(values, exclude_id=record.id, actor=actor)
        changed["updated_at"] = utcnow()
        if not await self.repo.update_if_version(record.id, expected, changed):
            raise_stale(await self._current_version(record.id))
        refreshed = await self.repo.get(record.id)
        assert refreshed is not None
        await self._publish(refreshed)
        return refreshed

    async def _publish(self, record: Outcome) -> None:
        await record_change(
            self.session,
            OutcomeChange,
            entity=ENTITY,
            record_id=record.id,
            op="upsert",
            version=record.version,
            document=outcome_document(record),
        )

    async def _current_version(self, record_id: str) -> int:
        record = await self.repo.get(record_id, include_deleted=True)
        return record.version if record else 0

    async def _check_references(self, data: OutcomeFields, *, previous: Outcome | None) -> None:
        """Experts and institutions named for the first time must exist in their services.

        References the record already holds are not asked again, so an edit that leaves them
        alone works while a peer is down (and is not refused because one was deleted since).
        """
        held_experts = {a.get("expert_id") for a in previous.authors} if previous else set()
        held_institutions = set(previous.institution_ids) if previous else set()
        experts = [
            (("authors", index, "expert_id"), author.expert_id)
            for index, author in enumerate(data.authors)
            if author.expert_id and author.expert_id not in held_experts
        ]
        institutions = [
            (("institution_ids", index), value)
            for index, value in enumerate(data.institution_ids)
            if value not in held_institutions
        ]
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for refs, client, collection, what in (
            (experts, self.peers.experts, "/experts", "expert"),
            (institutions, self.peers.institutions, "/institutions", "institution"),
        ):
            if refs:
                unknown = await missing_ids(client, collection, [value for _, value in refs])
                problems += [
                    (loc, f"no {what} {value!r}") for loc, value in refs if value in unknown
                ]
        if problems:
            raise UnknownReferences(problems)

    async def _check_unique(
        self, values: dict[str, Any], *, exclude_id: str | None, actor: Actor
    ) -> None:
        keys: list[tuple[str, str, dict[str, Any]]] = []
        if values.get("doi"):
            keys.append(("doi", values["doi"], {"doi": values["doi"]}))
        if values.get("source") and values.get("external_id"):
            pair = {"source": values["source"], "external_id": values["external_id"]}
            keys.append(("external_id", f"{pair['source']}/{pair['external_id']}", pair))
        for field, shown, columns in keys:
            existing = await self.repo.get_live_by(**columns)
            if existing is not None and existing.id != exclude_id:
                visible = can_see(actor, existing.visibility, existing.owner_org)
                raise DuplicateIdentifier(field, shown, existing.id if visible else None)


def _columns(data: OutcomeFields) -> dict[str, Any]:
    """Validated fields as column values: authors by order, the date split from its precision."""
    values = data.model_dump(mode="json")
    values["authors"] = sorted(values["authors"], key=lambda author: author["order"])
    published = values.pop("published_on")
    first, precision = parse_published(published) if published else (None, None)
    values["published_on"] = first
    values["published_precision"] = precision.value if precision else None
    values["full_text_length"] = len(values["full_text"]) if values["full_text"] else None
    return values


def _fields_of(record: Outcome) -> dict[str, Any]:
    """The record's writable fields as the API shows them (the base of a merge patch)."""
    fields = {name: getattr(record, name) for name in WRITABLE_FIELDS}
    if record.published_on is not None:
        fields["published_on"] = format_published(record.published_on, record.published_precision)
    return fields
