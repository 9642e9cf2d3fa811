"""Business rules of the events library; flushes, never commits (the request does)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.events.documents import event_document
from services.events.library import LIBRARY
from services.events.models import TABLES
from services.events.models import Event
from services.events.repository import EventRepository
from services.events.schemas import EventFields
from services.kernel.bulk import BulkLine
from services.kernel.errors import UnknownReferences
from services.kernel.http import ServiceClient
from services.kernel.internal_auth import Actor
from services.kernel.lookup import RecordLookup
from services.kernel.peers import Location
from services.kernel.peers import NamedRecords
from services.kernel.peers import live_among
from services.kernel.peers import unknown_references
from services.kernel.service import RecordService

LOOKUP = RecordLookup.of_library(LIBRARY, {})


@dataclass(frozen=True, slots=True)
class Peers:
    """Clients of the services whose IDs events refer to."""

    institutions: ServiceClient
    experts: ServiceClient
    outcomes: ServiceClient


class EventService(RecordService[Event]):
    tables = TABLES
    library = LIBRARY
    lookup = LOOKUP
    fields = EventFields
    unique_columns = (("series", "series_number"),)
    # `upsert` keeps no state across lines (`live_references` only grows with IDs found
    # live), so the lines may go in one savepoint (kernel/bulk.py).
    bulk_together = True
    repo: EventRepository

    def __init__(self, session: AsyncSession, peers: Peers) -> None:
        super().__init__(session, EventRepository(session))
        self.peers = peers
        # Institution, expert and outcome IDs already confirmed live in this request.
        self.live_references: set[str] = set()

    def document(self, record: Event) -> dict[str, Any]:
        return event_document(record)

    # writes

    async def _before_bulk(self, lines: Sequence[BulkLine]) -> None:
        """The institutions, experts and outcomes of every line, asked for in one call per
        service before this service's transaction starts (bulk is for admins, who see every
        outcome); IDs found missing there are asked again line by line, with the usual rules."""
        valid = [line.data for line in lines if line.ok]
        wanted = (
            (
                self.peers.institutions,
                "/institutions",
                {i for d in valid for i in (*d.organiser_ids, *d.co_organiser_ids)},
            ),
            (
                self.peers.experts,
                "/experts",
                {p.expert_id for d in valid for p in d.participants if p.expert_id},
            ),
            (self.peers.outcomes, "/outcomes", {i for d in valid for i in d.outcome_ids}),
        )
        self.live_references |= await live_among(wanted)

    # rules

    def _columns(self, data: EventFields) -> dict[str, Any]:
        values = super()._columns(data)
        # Dates as dates (the JSON dump has them as strings).
        values["starts_on"], values["ends_on"] = data.starts_on, data.ends_on
        return values

    async def _check_references(
        self,
        data: EventFields,
        values: dict[str, Any],
        *,
        record_id: str,
        previous: Event | None,
        actor: Actor,
    ) -> None:
        """Institutions, experts and outcomes named for the first time must exist in their
        services (an outcome: one the caller may see). References the record already holds
        are not asked again, so an edit that leaves them alone works while a peer is down."""
        held: set[str] = set()
        if previous is not None:
            held |= {*previous.organiser_ids, *previous.co_organiser_ids, *previous.outcome_ids}
            held |= {p["expert_id"] for p in previous.participants if p.get("expert_id")}

        def new(named: Sequence[tuple[Location, str]]) -> list[tuple[Location, str]]:
            return [(loc, v) for loc, v in named if v not in held and v not in self.live_references]

        organisers = [(("organiser_ids", i), v) for i, v in enumerate(data.organiser_ids)]
        organisers += [(("co_organiser_ids", i), v) for i, v in enumerate(data.co_organiser_ids)]
        participants = [
            (("participants", i, "expert_id"), p.expert_id)
            for i, p in enumerate(data.participants)
            if p.expert_id
        ]
        outcomes = [(("outcome_ids", i), v) for i, v in enumerate(data.outcome_ids)]
        problems = await unknown_references(
            (
                NamedRecords(
                    self.peers.institutions, "/institutions", "institution", new(organisers)
                ),
                NamedRecords(self.peers.experts, "/experts", "expert", new(participants)),
                NamedRecords(self.peers.outcomes, "/outcomes", "outcome", new(outcomes), actor),
            )
        )
        if problems:
            raise UnknownReferences(problems)


async def count_institution_references(session: AsyncSession, institution_id: str) -> int:
    """Live events an institution organises or co-organises (asked before it is deleted)."""
    repo = EventRepository(session)
    naming: set[str] = set()
    for column in (Event.organiser_ids, Event.co_organiser_ids):
        for event in await repo.live_mentioning(column, institution_id):
            if institution_id in (*event.organiser_ids, *event.co_organiser_ids):
                naming.add(event.id)
    return len(naming)
