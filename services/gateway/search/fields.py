"""What each library exposes to search: filterable, facetable and sortable fields, text fields.

Declarative, in the manner of OpenAlex: each field knows its type and labels, the query parser
validates against it, and both backends build their storage from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.gateway.search.model import FieldKind, FilterField, LibrarySchema, TextField
from services.institutions.schemas import STATUS_LABELS, TYPE_LABELS
from services.kernel.visibility import VISIBILITY_LABELS
from services.outcomes.schemas import TYPE_LABELS as OUTCOME_TYPE_LABELS

# A tier rather than a weight: far above anything a query scores by its tokens and phrases
# (hundreds at most), so a paper with the query as a keyword ranks before every paper without,
# and among them by their scores (bench/relevance_heldout.py).
KEYWORD_EXACT_BOOST = 10_000.0
# The same tier for a record named exactly as the query (an institution, an expert), and
# one below it for an institution whose sure short form the query is (北大 → 北京大学).
EXACT_NAME_BOOST = 10_000.0
SHORT_FORM_BOOST = 5_000.0

K, INT, D, B, N = (
    FieldKind.KEYWORD,
    FieldKind.INTEGER,
    FieldKind.DATE,
    FieldKind.BOOLEAN,
    FieldKind.NUMBER,
)


def _labels(mapping: Mapping[Any, str]) -> dict[str, str]:
    return {str(getattr(k, "value", k)): v for k, v in mapping.items()}


def _fields(*fields: FilterField) -> dict[str, FilterField]:
    return {f.name: f for f in fields}


OWNER = FilterField("owner_org", "所属单位", K, facetable=True)
UPDATED = FilterField("updated_at", "更新时间", D, sortable=True)
CREATED = FilterField("created_at", "创建时间", D, sortable=True)

INSTITUTIONS = LibrarySchema(
    name="institutions",
    label="机构库",
    fields=_fields(
        FilterField("type", "机构类型", K, facetable=True, labels=_labels(TYPE_LABELS)),
        FilterField("province", "省份", K, facetable=True),
        FilterField("city", "城市", K, facetable=True),
        FilterField("region_code", "行政区划代码", K),
        FilterField("status", "状态", K, facetable=True, labels=_labels(STATUS_LABELS)),
        FilterField("parent_id", "上级机构", K, ref="institutions"),
        FilterField("tags", "标签", K, facetable=True),
        FilterField("established_year", "成立年份", INT, facetable=True, sortable=True),
        FilterField("has_ror", "有 ROR 标识", B, facetable=True),
        FilterField("name", "名称（拼音序）", K, sortable=True),
        OWNER,
        UPDATED,
        CREATED,
    ),
    text_fields=(
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

EXPERTS = LibrarySchema(
    name="experts",
    label="专家库",
    fields=_fields(
        FilterField("institution", "所在机构", K, facetable=True, ref="institutions"),
        FilterField("discipline", "学科", K, facetable=True),
        FilterField("title", "职称", K, facetable=True),
        FilterField("honors", "荣誉称号", K, facetable=True),
        FilterField("province", "省份", K, facetable=True),
        FilterField("has_orcid", "有 ORCID", B, facetable=True),
        FilterField("name", "姓名（拼音序）", K, sortable=True),
        OWNER,
        UPDATED,
        CREATED,
    ),
    text_fields=(
        TextField("name", 5.0, "name", exact_boost=EXACT_NAME_BOOST),
        TextField("institutions", 2.0, "institution_names"),
        TextField("areas", 2.0, "research_areas"),
        TextField("bio", 1.0, "bio"),
    ),
    default_sort=(("name", False),),
)

OUTCOMES = LibrarySchema(
    name="outcomes",
    label="成果库",
    fields=_fields(
        FilterField("type", "成果类型", K, facetable=True, labels=_labels(OUTCOME_TYPE_LABELS)),
        FilterField("year", "年份", INT, facetable=True, sortable=True),
        FilterField("published_on", "发布日期", D, sortable=True),
        FilterField("language", "语种", K, facetable=True),
        FilterField("visibility", "公开范围", K, facetable=True, labels=_labels(VISIBILITY_LABELS)),
        FilterField("series", "系列", K, facetable=True),
        FilterField("keyword", "关键词", K, facetable=True),
        FilterField("discipline", "学科", K, facetable=True),
        FilterField("author", "作者（专家）", K, facetable=True, ref="experts"),
        FilterField("institution", "机构", K, facetable=True, ref="institutions"),
        FilterField("has_doi", "有 DOI", B, facetable=True),
        FilterField("title", "题名（拼音序）", K, sortable=True),
        OWNER,
        UPDATED,
        CREATED,
    ),
    text_fields=(
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

LIBRARY_SCHEMAS: dict[str, LibrarySchema] = {s.name: s for s in (INSTITUTIONS, EXPERTS, OUTCOMES)}

_DATASET_KINDS = {"keyword": K, "integer": INT, "number": N, "date": D, "boolean": B, "text": K}


def dataset_library(slug: str) -> str:
    return f"datasets/{slug}"


def dataset_schema(definition: Mapping[str, Any]) -> LibrarySchema:
    """A special database's search schema, from its definition in the change feed."""
    fields: dict[str, FilterField] = {}
    text: list[TextField] = []
    title_field = definition.get("title_field")
    for spec in definition.get("fields", []):
        name, type_ = spec["name"], str(spec["type"])
        kind = K if type_.startswith("ref:") else _DATASET_KINDS.get(type_, K)
        if spec.get("filterable") or spec.get("facetable") or spec.get("sortable"):
            labels = {
                str(option["value"]): option.get("label") or str(option["value"])
                for option in spec.get("enum") or []
                if isinstance(option, Mapping)
            }
            fields[name] = FilterField(
                name,
                spec.get("label") or name,
                kind,
                facetable=bool(spec.get("facetable")),
                sortable=bool(spec.get("sortable")),
                labels=labels or None,
                ref=type_.removeprefix("ref:") if type_.startswith("ref:") else None,
            )
        if spec.get("searchable") or name == title_field:
            text.append(TextField(name, 3.0 if name == title_field else 1.0, name))
    fields.setdefault(UPDATED.name, UPDATED)
    return LibrarySchema(
        name=dataset_library(definition["slug"]),
        label=definition.get("name") or definition["slug"],
        fields=fields,
        text_fields=tuple(text),
        default_sort=((UPDATED.name, True),),
    )
