"""The search-document projection of an expert, carried by the change feed."""

from __future__ import annotations

from typing import Any

from services.experts.models import Expert
from services.experts.schemas import RESTRICTED_FIELDS
from services.experts.schemas import Affiliation
from services.kernel.records import record_meta
from services.vocabularies.disciplines import disciplines as discipline_vocabulary


def expert_document(record: Expert) -> dict[str, Any]:
    """What the search index needs, built from an allow-list so contact details never enter it.

    Institution names are not copied here: the indexer joins them by `institution_ids`, so a
    renamed institution re-indexes its experts without a write to this service.
    """
    vocabulary = discipline_vocabulary()
    codes = list(record.disciplines or [])
    with_ancestors = list(
        dict.fromkeys(code for leaf in codes for code in vocabulary.ancestors(leaf))
    )
    affiliations = [
        {key: a.get(key) for key in Affiliation.model_fields} for a in record.affiliations or []
    ]
    primary = next((a["institution_id"] for a in affiliations if a.get("primary")), None)
    document = {
        "id": record.id,
        "name": record.name,
        "name_en": record.name_en,
        "name_pinyin": record.name_pinyin,
        "name_initials": record.name_initials,
        "title": record.title,
        "honors": list(record.honors or []),
        "affiliations": affiliations,
        "institution_ids": list(dict.fromkeys(a["institution_id"] for a in affiliations)),
        "primary_institution_id": primary,
        "disciplines": codes,
        "disciplines_labels": [vocabulary.label(code) for code in codes],
        # Facets count an expert under every level: F0201 also counts for F02.
        "disciplines_with_ancestors": with_ancestors,
        "research_areas": list(record.research_areas or []),
        "bio": record.bio,
        "orcid": record.orcid,
        "homepage": record.homepage,
        "visibility": "public",
        **record_meta(record),
    }
    assert not set(RESTRICTED_FIELDS) & document.keys()
    return document
