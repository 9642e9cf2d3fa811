"""The expert library's search facts: its fields, and its index documents (with the names
of the institutions they work at, joined in)."""

from __future__ import annotations

from typing import Any

from services.experts.library import LIBRARY
from services.gateway.indexer.documents import exact_values
from services.gateway.indexer.documents import name_tokens
from services.gateway.indexer.documents import names_of
from services.gateway.indexer.documents import one
from services.gateway.indexer.documents import suggest_keys
from services.gateway.indexer.documents import text_tokens
from services.gateway.listing import ExpertListed
from services.gateway.search.analysis import Analyzer
from services.gateway.search.fields import EXACT_NAME_BOOST
from services.gateway.search.fields import B
from services.gateway.search.fields import K
from services.gateway.search.fields import read
from services.gateway.search.fields import record_schema
from services.gateway.search.model import FilterField
from services.gateway.search.model import IndexDocument
from services.gateway.search.model import Joins
from services.gateway.search.model import LibrarySearch
from services.gateway.search.model import TextField
from services.kernel.pinyin import person_name_pinyin

SCHEMA = record_schema(
    LIBRARY,
    FilterField(
        "institution",
        "所在机构",
        K,
        facetable=True,
        ref="institutions",
        source="institution_ids",
    ),
    # A discipline finds the experts in its sub-disciplines too.
    FilterField("discipline", "学科", K, facetable=True, source="disciplines_with_ancestors"),
    read("title", "职称", facetable=True),
    read("honors", "荣誉称号", facetable=True),
    FilterField("province", "省份", K, facetable=True),
    FilterField("has_orcid", "有 ORCID", B, facetable=True),
    FilterField("name", "姓名（拼音序）", K, sortable=True),
    text=(
        TextField("name", 5.0, "name", exact_boost=EXACT_NAME_BOOST),
        TextField("institutions", 2.0, "institution_names"),
        TextField("areas", 2.0, "research_areas"),
        TextField("bio", 1.0, "bio"),
    ),
    default_sort=(("name", False),),
)


def expert_index_document(
    source: dict[str, Any], joins: Joins, analyzer: Analyzer
) -> IndexDocument:
    institutions = joins.get("institutions", {})
    ids = list(source.get("institution_ids", []))
    institution_names = names_of(institutions, ids)
    joined = {
        **source,
        "institution_names": institution_names,
        "affiliations": [
            {**a, "institution_name": institutions.get(a.get("institution_id"), {}).get("name")}
            for a in source.get("affiliations", [])
        ],
    }
    primary = institutions.get(source.get("primary_institution_id") or "", {})
    return SCHEMA.document(
        source,
        label=source["name"],
        source=joined,
        default_visibility="public",
        tokens={
            "name": name_tokens(analyzer, [source["name"]], person=True)
            + " "
            + text_tokens(analyzer, source.get("name_en")),
            "institutions": name_tokens(analyzer, institution_names),
            "areas": text_tokens(analyzer, *source.get("research_areas", []), source.get("title")),
            "bio": text_tokens(analyzer, source.get("bio"), *source.get("honors", [])),
        },
        values={
            "province": one(primary.get("province")),
            "has_orcid": [bool(source.get("orcid"))],
            "name": ["".join(person_name_pinyin(source["name"]).syllables) or source["name"]],
        },
        suggest=suggest_keys([source["name"]], person=True),
        exact={"name": exact_values(analyzer, [source["name"]])},
        suggest_hint=primary.get("name") or (institution_names[0] if institution_names else None),
    )


SEARCH = LibrarySearch(SCHEMA, expert_index_document, listed=ExpertListed)
