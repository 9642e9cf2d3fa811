"""The search-document projection of an event, carried by the change feed."""

from __future__ import annotations

from typing import Any

from services.events.models import Event
from services.events.schemas import KIND_LABELS
from services.events.schemas import ROLE_LABELS
from services.events.schemas import EventKind
from services.events.schemas import ParticipantRole
from services.kernel.records import record_meta
from services.kernel.visibility import VISIBILITY_LABELS
from services.kernel.visibility import Visibility
from services.vocabularies.disciplines import disciplines


def event_document(record: Event) -> dict[str, Any]:
    """What the search index needs: text for matching, IDs and codes for filters and facets.

    Organiser and participant names of linked records are joined by the indexer (it owns the
    fan-out when an institution or expert is renamed); outcomes stay IDs, as one may be
    hidden from a caller who may see the event. `visibility` and `owner_org` are what every
    search, count and facet filters on.
    """
    vocabulary = disciplines()
    expanded = list(
        dict.fromkeys(code for own in record.disciplines for code in vocabulary.ancestors(own))
    )
    participants = [
        {
            "expert_id": p.get("expert_id"),
            "name": p.get("name"),
            "role": p["role"],
            "role_label": ROLE_LABELS[ParticipantRole(p["role"])],
        }
        for p in record.participants or []
    ]
    return {
        "id": record.id,
        "title": record.title,
        "kind": record.kind,
        "kind_label": KIND_LABELS[EventKind(record.kind)],
        "series": record.series,
        "series_number": record.series_number,
        "starts_on": record.starts_on.isoformat(),
        "ends_on": record.ends_on.isoformat() if record.ends_on else None,
        "year": record.starts_on.year,
        "region_code": record.region_code,
        "province": record.province,
        "city": record.city,
        "venue": record.venue,
        "organiser_ids": list(record.organiser_ids or []),
        "co_organiser_ids": list(record.co_organiser_ids or []),
        # Every organising institution, lead or co-: the `organiser` filter and the joins.
        "institution_ids": list(
            dict.fromkeys([*(record.organiser_ids or []), *(record.co_organiser_ids or [])])
        ),
        "participants": participants,
        "participant_expert_ids": [p["expert_id"] for p in participants if p["expert_id"]],
        "topics": list(record.topics or []),
        "keywords": list(record.keywords or []),
        "disciplines": list(record.disciplines or []),
        "discipline_codes": expanded,
        "discipline_labels": [vocabulary.label(code) for code in expanded],
        "summary": record.summary,
        "outcome_ids": list(record.outcome_ids or []),
        "visibility": record.visibility,
        "visibility_label": VISIBILITY_LABELS[Visibility(record.visibility)],
        "url": record.url,
        **record_meta(record),
    }
