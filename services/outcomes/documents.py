"""The search-document projection of an outcome, carried by the change feed."""

from __future__ import annotations

from typing import Any

from services.kernel.records import record_meta
from services.kernel.visibility import VISIBILITY_LABELS
from services.kernel.visibility import Visibility
from services.outcomes.models import Outcome
from services.outcomes.schemas import TYPE_LABELS
from services.outcomes.schemas import OutcomeType
from services.outcomes.schemas import format_published
from services.vocabularies.disciplines import disciplines

# The full text stays in this service: a body may be 2 M characters, and feed pages of up to
# 1 000 documents must stay small for the indexer. The document carries a bounded excerpt (the
# opening, where reports state their subject) for matching and snippets; an indexer that wants
# to chunk whole bodies reads them from GET /outcomes/{id}.
FULL_TEXT_EXCERPT_CHARS = 2_000


def outcome_document(record: Outcome) -> dict[str, Any]:
    """What the search index needs: text for matching, IDs and codes for filters and facets.

    Author and institution names of linked records are joined by the indexer (it owns the
    fan-out when an expert or institution is renamed); the names here are the bylines as
    printed. Outcomes carry no restricted fields; `visibility` and `owner_org` are what every
    search, count and facet filters on.
    """
    vocabulary = disciplines()
    expanded = list(
        dict.fromkeys(code for own in record.disciplines for code in vocabulary.ancestors(own))
    )
    authors = list(record.authors or [])
    full_text = record.full_text
    return {
        "id": record.id,
        "title": record.title,
        "abstract": record.abstract,
        "full_text_excerpt": full_text[:FULL_TEXT_EXCERPT_CHARS] if full_text else None,
        "full_text_length": record.full_text_length,
        "type": record.type,
        "type_label": TYPE_LABELS[OutcomeType(record.type)],
        "series": record.series,
        "authors": [
            {"expert_id": a.get("expert_id"), "name": a.get("name"), "order": a["order"]}
            for a in authors
        ],
        "author_expert_ids": [a["expert_id"] for a in authors if a.get("expert_id")],
        "author_names": [a["name"] for a in authors if a.get("name")],
        "institution_ids": list(record.institution_ids or []),
        "published_on": record.published_on.isoformat() if record.published_on else None,
        "published_on_text": (
            format_published(record.published_on, record.published_precision)
            if record.published_on
            else None
        ),
        "published_precision": record.published_precision,
        "published_year": record.published_on.year if record.published_on else None,
        "keywords": list(record.keywords or []),
        # The codes as given, and with every ancestor (a filter on F02 finds F0201 outcomes).
        "disciplines": list(record.disciplines or []),
        "discipline_codes": expanded,
        "discipline_labels": [vocabulary.label(code) for code in expanded],
        "language": record.language,
        "visibility": record.visibility,
        "visibility_label": VISIBILITY_LABELS[Visibility(record.visibility)],
        "doi": record.doi,
        "url": record.url,
        **record_meta(record),
    }
