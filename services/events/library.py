"""The events library (活动库), declared once (kernel/library.py)."""

from __future__ import annotations

from services.kernel.library import LibraryFacts
from services.kernel.library import Link

LIBRARY = LibraryFacts(
    name="events",
    label="活动库",
    id_prefix="evt",
    port=8105,
    links=(
        # Organisers and co-organisers: `/institutions/{id}/events`.
        Link("institutions", "institution_ids", "organiser", route="events"),
        # Speakers, hosts and attendees: `/experts/{id}/events`.
        Link("experts", "participant_expert_ids", "participant", route="events"),
        # What an event produced: `/outcomes/{id}/events`. An outcome may be hidden from some
        # callers, so its title is never copied into an event's document.
        Link("outcomes", "outcome_ids", "outcome", route="events", joins_name=False),
    ),
)
