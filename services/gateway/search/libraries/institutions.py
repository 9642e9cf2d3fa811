"""The institution library's search facts: its fields, and its index documents."""

from __future__ import annotations

from typing import Any

from services.gateway.indexer.documents import exact_values
from services.gateway.indexer.documents import name_tokens
from services.gateway.indexer.documents import short_form_tokens
from services.gateway.indexer.documents import sort_key
from services.gateway.indexer.documents import suggest_keys
from services.gateway.indexer.documents import text_tokens
from services.gateway.search.analysis import Analyzer
from services.gateway.search.fields import EXACT_NAME_BOOST
from services.gateway.search.fields import INT
from services.gateway.search.fields import SHORT_FORM_BOOST
from services.gateway.search.fields import B
from services.gateway.search.fields import K
from services.gateway.search.fields import read
from services.gateway.search.fields import record_schema
from services.gateway.search.fields import value_labels
from services.gateway.search.model import FilterField
from services.gateway.search.model import IndexDocument
from services.gateway.search.model import Joins
from services.gateway.search.model import LibrarySearch
from services.gateway.search.model import TextField
from services.institutions.library import LIBRARY
from services.institutions.schemas import STATUS_LABELS
from services.institutions.schemas import TYPE_LABELS

SCHEMA = record_schema(
    LIBRARY,
    read("type", "机构类型", facetable=True, labels=value_labels(TYPE_LABELS)),
    read("province", "省份", facetable=True),
    read("city", "城市", facetable=True),
    read("region_code", "行政区划代码"),
    read("status", "状态", facetable=True, labels=value_labels(STATUS_LABELS)),
    read("parent_id", "上级机构", ref="institutions"),
    read("tags", "标签", facetable=True),
    read("established_year", "成立年份", INT, facetable=True, sortable=True),
    FilterField("has_ror", "有 ROR 标识", B, facetable=True),
    FilterField("name", "名称（拼音序）", K, sortable=True),
    text=(
        # Named exactly (name, alias or acronym): first; 北航, 哈工大 are alias tokens.
        TextField("name", 5.0, "name", exact_boost=EXACT_NAME_BOOST),
        TextField("aliases", 3.0, "aliases"),
        # 北航, 哈工大: a sure short form ranks just below an exact name (Analyzer.short_forms).
        TextField("short_forms", 6.0, exact_boost=SHORT_FORM_BOOST),
        TextField("name_en", 2.0, "name_en"),
        TextField("description", 1.0, "description"),
    ),
    default_sort=(("name", False),),
)


def institution_index_document(
    source: dict[str, Any], _joins: Joins, analyzer: Analyzer
) -> IndexDocument:
    # The library's own names join the segmentation dictionary (DESIGN.md).
    analyzer.add_terms(n for n in [source.get("name"), *source.get("aliases", [])] if n)
    names = [source["name"], *source.get("aliases", []), *source.get("acronyms", [])]
    # Short forms users type (北航, 川大, 哈工大): see Analyzer.short_forms.
    forms = [analyzer.short_forms(name) for name in names[:2]]
    sure = list(dict.fromkeys(f for found in forms for f in found.sure))
    short = list(dict.fromkeys(f for found in forms for f in found.all))
    return SCHEMA.document(
        source,
        label=source["name"],
        default_visibility="public",
        tokens={
            "name": name_tokens(analyzer, [source["name"]]),
            "aliases": name_tokens(analyzer, names[1:]),
            "short_forms": short_form_tokens(analyzer, short),
            "name_en": text_tokens(analyzer, source.get("name_en")),
            "description": text_tokens(analyzer, source.get("description")),
        },
        values={"has_ror": [bool(source.get("ror_id"))], "name": sort_key(source["name"])},
        suggest=suggest_keys([*names, *short]),
        suggest_hint=" · ".join(x for x in (source.get("type_label"), source.get("province")) if x)
        or None,
        exact={"name": exact_values(analyzer, names), "short_forms": exact_values(analyzer, sure)},
    )


SEARCH = LibrarySearch(SCHEMA, institution_index_document)
