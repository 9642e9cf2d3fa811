"""Business rules of the outcome library; flushes, never commits (the request does)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel import identifiers
from services.kernel.bulk import BulkLine
from services.kernel.errors import UnknownReferences
from services.kernel.http import ServiceClient
from services.kernel.internal_auth import Actor
from services.kernel.lookup import ExternalId
from services.kernel.lookup import RecordLookup
from services.kernel.peers import NamedRecords
from services.kernel.peers import live_among
from services.kernel.peers import unknown_references
from services.kernel.service import RecordService
from services.outcomes.documents import outcome_document
from services.outcomes.library import LIBRARY
from services.outcomes.models import TABLES
from services.outcomes.models import Outcome
from services.outcomes.repository import OutcomeRepository
from services.outcomes.schemas import OutcomeFields
from services.outcomes.schemas import format_published
from services.outcomes.schemas import parse_published

# DOIs are long, so more of a malformed one is quoted back; `DOI:` is read as `doi:`.
LOOKUP = RecordLookup.of_library(
    LIBRARY, {"doi": ExternalId("doi", identifiers.normalize_doi, echo=60)}, ignore_case=True
)


@dataclass(frozen=True, slots=True)
class Peers:
    """Clients of the services whose IDs outcomes refer to."""

    experts: ServiceClient
    institutions: ServiceClient


class OutcomeService(RecordService[Outcome]):
    tables = TABLES
    library = LIBRARY
    lookup = LOOKUP
    fields = OutcomeFields
    unique_columns = ("doi",)
    # `upsert` keeps no state across lines (`live_references` only grows with IDs found
    # live), so the lines may go in one savepoint (kernel/bulk.py).
    bulk_together = True
    repo: OutcomeRepository

    def __init__(self, session: AsyncSession, peers: Peers) -> None:
        super().__init__(session, OutcomeRepository(session))
        self.peers = peers
        # Expert and institution IDs already confirmed live in this request (see bulk_upsert).
        self.live_references: set[str] = set()

    def document(self, record: Outcome) -> dict[str, Any]:
        return outcome_document(record)

    # writes

    async def _before_bulk(self, lines: Sequence[BulkLine]) -> None:
        """The experts and institutions of every line, asked for in one call per service
        before this service's transaction starts; only IDs found missing there are asked
        again, line by line, with the usual rules."""
        valid = [line.data for line in lines if line.ok]
        experts = {a.expert_id for d in valid for a in d.authors if a.expert_id}
        institutions = {i for d in valid for i in d.institution_ids}
        self.live_references |= await live_among(
            (
                (self.peers.experts, "/experts", experts),
                (self.peers.institutions, "/institutions", institutions),
            )
        )

    # rules

    def _columns(self, data: OutcomeFields) -> dict[str, Any]:
        """Authors by order, the date split from its precision, the full text's length."""
        values = super()._columns(data)
        values["authors"] = sorted(values["authors"], key=lambda author: author["order"])
        published = values.pop("published_on")
        first, precision = parse_published(published) if published else (None, None)
        values["published_on"] = first
        values["published_precision"] = precision.value if precision else None
        values["full_text_length"] = len(values["full_text"]) if values["full_text"] else None
        return values

    def _as_written(self, record: Outcome) -> dict[str, Any]:
        written = super()._as_written(record)
        if record.published_on is not None:
            written["published_on"] = format_published(
                record.published_on, record.published_precision
            )
        return written

    async def _check_references(
        self,
        data: OutcomeFields,
        values: dict[str, Any],
        *,
        record_id: str,
        previous: Outcome | None,
        actor: Actor,
    ) -> None:
        """Experts and institutions named for the first time must exist in their services.

        References the record already holds are not asked again, so an edit that leaves them
        alone works while a peer is down (and is not refused because one was deleted since).
        """
        held_experts = {a.get("expert_id") for a in previous.authors} if previous else set()
        held_institutions = set(previous.institution_ids) if previous else set()
        experts = [
            (("authors", index, "expert_id"), author.expert_id)
            for index, author in enumerate(data.authors)
            if author.expert_id
            and author.expert_id not in held_experts
            and author.expert_id not in self.live_references
        ]
        institutions = [
            (("institution_ids", index), value)
            for index, value in enumerate(data.institution_ids)
            if value not in held_institutions and value not in self.live_references
        ]
        problems = await unknown_references(
            (
                NamedRecords(self.peers.experts, "/experts", "expert", experts),
                NamedRecords(self.peers.institutions, "/institutions", "institution", institutions),
            )
        )
        if problems:
            raise UnknownReferences(problems)


async def count_institution_references(session: AsyncSession, institution_id: str) -> int:
    """Live outcomes that name the institution (asked before it is deleted)."""
    repo = OutcomeRepository(session)
    candidates = await repo.live_mentioning(Outcome.institution_ids, institution_id)
    return sum(institution_id in outcome.institution_ids for outcome in candidates)
