"""The search-document projection of an institution, carried by the change feed."""

from __future__ import annotations

from typing import Any

from services.institutions.models import Institution
from services.institutions.schemas import STATUS_LABELS
from services.institutions.schemas import TYPE_LABELS
from services.institutions.schemas import InstitutionStatus
from services.institutions.schemas import InstitutionType
from services.kernel.records import record_meta


def institution_document(record: Institution) -> dict[str, Any]:
    """What the search index needs: names for matching, codes for filters and facets.

    Institutions carry no restricted fields; the USCC is public registry data.
    """
    return {
        "id": record.id,
        "name": record.name,
        "name_en": record.name_en,
        "aliases": list(record.aliases or []),
        "acronyms": list(record.acronyms or []),
        "type": record.type,
        "type_label": TYPE_LABELS[InstitutionType(record.type)],
        "parent_id": record.parent_id,
        "region_code": record.region_code,
        "province": record.province,
        "city": record.city,
        "website": record.website,
        "uscc": record.uscc,
        "ror_id": record.ror_id,
        "established_year": record.established_year,
        "status": record.status,
        "status_label": STATUS_LABELS[InstitutionStatus(record.status)],
        "merged_into": record.merged_into,
        "description": record.description,
        "tags": list(record.tags or []),
        "visibility": "public",
        **record_meta(record),
    }
