"""The events library's search facts: its fields, and its index documents (with the names of
their organisers and participants, joined in)."""

from __future__ import annotations

from typing import Any

from services.events.library import LIBRARY
from services.events.schemas import KIND_LABELS
from services.gateway.indexer.documents import bylines
from services.gateway.indexer.documents import exact_values
from services.gateway.indexer.documents import name_tokens
from services.gateway.indexer.documents import names_of
from services.gateway.indexer.documents import sort_key
from services.gateway.indexer.documents import suggest_keys
from services.gateway.indexer.documents import text_tokens
from services.gateway.listing import EventListed
from services.gateway.search.analysis import Analyzer
from services.gateway.search.fields import INT
from services.gateway.search.fields import KEYWORD_EXACT_BOOST
from services.gateway.search.fields import VISIBILITY
from services.gateway.search.fields import D
from services.gateway.search.fields import K
from services.gateway.search.fields import read
from services.gateway.search.fields import record_schema
from services.gateway.search.fields import value_labels
from services.gateway.search.model import FilterField
from services.gateway.search.model import IndexDocument
from services.gateway.search.model import Joins
from services.gateway.search.model import LibrarySearch
from services.gateway.search.model import TextField

SCHEMA = record_schema(
    LIBRARY,
    read("kind", "活动类型", facetable=True, labels=value_labels(KIND_LABELS)),
    read("year", "年份", INT, facetable=True, sortable=True),
    read("starts_on", "开始日期", D, sortable=True),
    read("province", "省份", facetable=True),
    read("city", "城市", facetable=True),
    read("series", "系列活动", facetable=True),
    FilterField(
        "organiser",
        "主办/承办单位",
        K,
        facetable=True,
        ref="institutions",
        source="institution_ids",
    ),
    FilterField(
        "participant",
        "参与专家",
        K,
        facetable=True,
        ref="experts",
        source="participant_expert_ids",
    ),
    FilterField("outcome", "形成成果", K, ref="outcomes", source="outcome_ids"),
    FilterField("topic", "议题", K, facetable=True, source="topics"),
    FilterField("keyword", "关键词", K, facetable=True, source="keywords"),
    FilterField("discipline", "学科", K, facetable=True, source="discipline_codes"),
    VISIBILITY,
    FilterField("title", "名称（拼音序）", K, sortable=True),
    text=(
        TextField("title", 4.0, "title"),
        # An event whose keyword or topic is the query ranks first, as for outcomes.
        TextField("keywords", 3.0, "keywords", exact_boost=KEYWORD_EXACT_BOOST),
        TextField("series", 3.0, "series"),
        TextField("participants", 2.0, "participant_names"),
        TextField("organisers", 1.5, "organiser_names"),
        TextField("summary", 1.0, "summary"),
        TextField("place", 0.5, "venue"),
    ),
    default_sort=(("starts_on", True),),
)


def event_index_document(source: dict[str, Any], joins: Joins, analyzer: Analyzer) -> IndexDocument:
    experts, institutions = joins.get("experts", {}), joins.get("institutions", {})
    participants = bylines(source.get("participants", []), experts)
    participant_names = [p["name"] for p in participants if p.get("name")]
    organiser_names = names_of(institutions, source.get("organiser_ids", []))
    co_organiser_names = names_of(institutions, source.get("co_organiser_ids", []))
    joined = {
        **source,
        "participants": participants,
        "participant_names": participant_names,
        "organiser_names": organiser_names,
        "co_organiser_names": co_organiser_names,
    }
    keywords = [*source.get("keywords", []), *source.get("topics", [])]
    year = source.get("year")
    return SCHEMA.document(
        source,
        label=source["title"],
        source=joined,
        tokens={
            "title": text_tokens(analyzer, source["title"]),
            "keywords": name_tokens(analyzer, keywords),
            "series": name_tokens(analyzer, [source.get("series")]),
            "participants": name_tokens(analyzer, participant_names, person=True),
            "organisers": name_tokens(analyzer, [*organiser_names, *co_organiser_names]),
            "summary": text_tokens(analyzer, source.get("summary")),
            "place": text_tokens(analyzer, source.get("venue"), source.get("city")),
        },
        values={"title": sort_key(source["title"])},
        suggest=suggest_keys([source["title"]]),
        exact={"keywords": exact_values(analyzer, keywords)},
        suggest_hint=" · ".join(str(x) for x in (source.get("kind_label"), year) if x) or None,
    )


SEARCH = LibrarySearch(SCHEMA, event_index_document, listed=EventListed)
