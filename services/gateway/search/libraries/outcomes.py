"""The outcome library's search facts: its fields, and its index documents (with the names
of their authors and institutions, joined in)."""

from __future__ import annotations

from typing import Any

from services.gateway.indexer.documents import bylines
from services.gateway.indexer.documents import exact_values
from services.gateway.indexer.documents import name_tokens
from services.gateway.indexer.documents import names_of
from services.gateway.indexer.documents import sort_key
from services.gateway.indexer.documents import suggest_keys
from services.gateway.indexer.documents import text_tokens
from services.gateway.listing import OutcomeListed
from services.gateway.search.analysis import Analyzer
from services.gateway.search.fields import INT
from services.gateway.search.fields import KEYWORD_EXACT_BOOST
from services.gateway.search.fields import VISIBILITY
from services.gateway.search.fields import B
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
from services.outcomes.library import LIBRARY
from services.outcomes.schemas import TYPE_LABELS

SCHEMA = record_schema(
    LIBRARY,
    read("type", "成果类型", facetable=True, labels=value_labels(TYPE_LABELS)),
    FilterField("year", "年份", INT, facetable=True, sortable=True, source="published_year"),
    read("published_on", "发布日期", D, sortable=True),
    read("language", "语种", facetable=True),
    VISIBILITY,
    read("series", "系列", facetable=True),
    FilterField("keyword", "关键词", K, facetable=True, source="keywords"),
    FilterField("discipline", "学科", K, facetable=True, source="discipline_codes"),
    FilterField(
        "author", "作者（专家）", K, facetable=True, ref="experts", source="author_expert_ids"
    ),
    FilterField(
        "institution", "机构", K, facetable=True, ref="institutions", source="institution_ids"
    ),
    FilterField("has_doi", "有 DOI", B, facetable=True),
    FilterField("title", "题名（拼音序）", K, sortable=True),
    text=(
        TextField("title", 4.0, "title"),
        # A query that is one of a paper's keywords ranks it first (bench/relevance_heldout.py).
        TextField("keywords", 3.0, "keywords", exact_boost=KEYWORD_EXACT_BOOST),
        TextField("authors", 2.0, "author_names"),
        TextField("abstract", 1.5, "abstract"),
        TextField("institutions", 1.0, "institution_names"),
        TextField("full_text", 0.5, "full_text_excerpt"),
    ),
    default_sort=(("published_on", True),),
)


def outcome_index_document(
    source: dict[str, Any], joins: Joins, analyzer: Analyzer
) -> IndexDocument:
    experts, institutions = joins.get("experts", {}), joins.get("institutions", {})
    authors = bylines(source.get("authors", []), experts)
    author_names = [a["name"] for a in authors if a.get("name")]
    institution_names = names_of(institutions, source.get("institution_ids", []))
    joined = {
        **source,
        "authors": authors,
        "author_names": author_names,
        "institution_names": institution_names,
    }
    year = source.get("published_year")
    return SCHEMA.document(
        source,
        label=source["title"],
        source=joined,
        tokens={
            "title": text_tokens(analyzer, source["title"]),
            "keywords": name_tokens(analyzer, source.get("keywords", [])),
            "authors": name_tokens(analyzer, author_names, person=True),
            "abstract": text_tokens(analyzer, source.get("abstract")),
            "institutions": name_tokens(analyzer, institution_names),
            "full_text": text_tokens(analyzer, source.get("full_text_excerpt")),
        },
        values={"has_doi": [bool(source.get("doi"))], "title": sort_key(source["title"])},
        suggest=suggest_keys([source["title"]]),
        exact={"keywords": exact_values(analyzer, source.get("keywords", []))},
        suggest_hint=" · ".join(str(x) for x in (source.get("type_label"), year) if x) or None,
    )


SEARCH = LibrarySearch(SCHEMA, outcome_index_document, listed=OutcomeListed)
