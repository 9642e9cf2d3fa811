"""Search fields: the pieces every library's declaration (search/libraries/) uses, and the
schema of a special database, built from its definition.

Declarative, in the manner of OpenAlex: each field knows its type and labels, the query parser
validates against it, and both backends build their storage from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.gateway.search.model import FieldKind
from services.gateway.search.model import FilterField
from services.gateway.search.model import LibrarySchema
from services.gateway.search.model import TextField
from services.kernel.library import LibraryFacts
from services.kernel.visibility import VISIBILITY_LABELS

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


def value_labels(mapping: Mapping[Any, str]) -> dict[str, str]:
    """Chinese labels by the values as strings (enum members by their value)."""
    return {str(getattr(k, "value", k)): v for k, v in mapping.items()}


def fields_by_name(*fields: FilterField) -> dict[str, FilterField]:
    """A library's filter fields, in the order given, by name."""
    return {f.name: f for f in fields}


def read(name: str, label: str, kind: FieldKind = K, **options: Any) -> FilterField:
    """A field whose values are the record document's key of the same name, as they stand."""
    return FilterField(name, label, kind, source=name, **options)


OWNER = read("owner_org", "所属单位", facetable=True)
# Libraries whose records carry their own visibility (outcomes, events).
VISIBILITY = read("visibility", "公开范围", facetable=True, labels=value_labels(VISIBILITY_LABELS))
UPDATED = read("updated_at", "更新时间", D, sortable=True)
CREATED = read("created_at", "创建时间", D, sortable=True)


def record_schema(
    library: LibraryFacts,
    *fields: FilterField,
    text: tuple[TextField, ...],
    default_sort: tuple[tuple[str, bool], ...],
) -> LibrarySchema:
    """A record library's search schema: its own fields, then the owner and the times every
    record has (filterable, and sortable by time)."""
    return LibrarySchema(
        name=library.name,
        label=library.label,
        fields=fields_by_name(*fields, OWNER, UPDATED, CREATED),
        text_fields=text,
        default_sort=default_sort,
    )


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
            fields[name] = read(
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
