"""The search contract shared by the query parser, the indexer and both backends."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from services.gateway.search.analysis import Analyzer
from services.kernel.visibility import VisibilityScope

Scalar = str | int | float | bool | date


class FieldKind(StrEnum):
    KEYWORD = "keyword"
    INTEGER = "integer"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"


@dataclass(frozen=True, slots=True)
class FilterField:
    """A field callers can filter, facet or sort on; it knows its values' type and labels."""

    name: str
    label: str
    kind: FieldKind = FieldKind.KEYWORD
    facetable: bool = False
    sortable: bool = False
    # Chinese labels of values for facets (e.g. university → 高校); None shows the value.
    labels: Mapping[str, str] | None = None
    # The library whose IDs the values are (a link, or a special database's `ref:` field).
    ref: str | None = None
    # The key of the record's document its values are read from as they stand (a list, one
    # value or none; dates from ISO strings); None when the library's builder computes them.
    source: str | None = None

    def values_in(self, document: Mapping[str, Any]) -> list[Scalar]:
        """This field's values in a record's document (`source` must be set)."""
        value = document.get(self.source) if self.source else None
        items = value if isinstance(value, list) else ([] if value is None else [value])
        if self.kind is FieldKind.DATE:
            return [date.fromisoformat(str(item)[:10]) for item in items if item]
        return list(items)


@dataclass(frozen=True, slots=True)
class TextField:
    """A token field `q` searches, with its weight, and the raw field it highlights."""

    name: str
    boost: float = 1.0
    highlight: str | None = None
    # > 0: a query (or one of its words) equal to a whole value of this field, as normalised,
    # adds this much: a paper whose keyword is the query, an institution named exactly so.
    exact_boost: float = 0.0


@dataclass(frozen=True, slots=True)
class LibrarySchema:
    """What a library (or one special database) exposes to search."""

    name: str  # "institutions", "experts", "outcomes", or "datasets/<slug>"
    label: str
    fields: Mapping[str, FilterField]
    text_fields: tuple[TextField, ...]
    # Used when no sort is given and there is no `q`; ties always break by id.
    default_sort: tuple[tuple[str, bool], ...] = ()  # (field name, descending)

    def document(
        self,
        record: dict[str, Any],
        *,
        label: str,
        source: dict[str, Any] | None = None,
        read_from: Mapping[str, Any] | None = None,
        values: Mapping[str, list[Scalar]] | None = None,
        default_visibility: str = "internal",
        **parts: Any,
    ) -> IndexDocument:
        """A record's index document: its identity from `record` (the change-feed document),
        `source` (what the API returns; `record` with joined names) and the values of every
        field declaring a `source` key, read from `read_from` (`source` by default), with
        `values` computed by the library's builder; `tokens`, `suggest`… as given."""
        source = record if source is None else source
        reading = source if read_from is None else read_from
        declared = {
            name: field.values_in(reading) for name, field in self.fields.items() if field.source
        }
        return IndexDocument(
            library=self.name,
            id=record["id"],
            version=record["version"],
            visibility=record.get("visibility", default_visibility),
            owner_org=record.get("owner_org"),
            label=label,
            source=source,
            values={**declared, **(values or {})},
            **parts,
        )


@dataclass(slots=True)
class IndexDocument:
    """One record as both backends store it.

    `source` is what the API returns (the change-feed document plus joined names); `tokens`
    holds the analysed text (space-joined, from analysis.py) per text field; `values` holds
    filter/facet/sort values per FilterField name (lists for multi-valued fields);
    `suggest` holds autocomplete keys (normalised names, aliases, pinyin, initials); `exact`
    the whole values that rank a record first when the query equals one.
    """

    library: str
    id: str
    version: int
    visibility: str
    owner_org: str | None
    label: str
    source: dict[str, Any]
    tokens: dict[str, str] = field(default_factory=dict)
    values: dict[str, list[Scalar]] = field(default_factory=dict)
    suggest: list[str] = field(default_factory=list)
    suggest_hint: str | None = None
    # Whole values of the text fields with `exact_boost`, normalised (analysis.normalize).
    exact: dict[str, list[str]] = field(default_factory=dict)


# The records a document joins in (their indexed sources), per linked library, by ID.
Joins = Mapping[str, Mapping[str, Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class LibrarySearch:
    """A record library's search facts, declared in one module of `search/libraries/`."""

    schema: LibrarySchema
    # A change-feed document, the records its links name, the analyzer → its index document.
    build: Callable[[dict[str, Any], Joins, Analyzer], IndexDocument]
    # One list entry as the gateway returns it (with the joined names), for the docs.
    listed: type[BaseModel] | None = None


@dataclass(frozen=True, slots=True)
class Terms:
    """One query word after analysis (a word may be 2+ tokens): `minimum` of its tokens must
    match, all of them when 0; a phrase needs all, adjacent and in order."""

    tokens: tuple[str, ...]
    phrase: bool = False  # from "quoted text": tokens adjacent and in order, where supported
    minimum: int = 0
    # Weight of this alternative's score (Elasticsearch; FTS5 weighs a phrase by its own IDF).
    boost: float = 1.0

    @property
    def needed(self) -> int:
        """How many of the tokens must match."""
        count = len(self.tokens)
        return count if self.phrase or not self.minimum else min(self.minimum, count)

    @property
    def partial(self) -> bool:
        return self.needed < len(self.tokens)


@dataclass(frozen=True, slots=True)
class TextQuery:
    """`q` parsed: every group must match one of its alternatives (OR); excluded must not."""

    groups: tuple[tuple[Terms, ...], ...]
    excluded: tuple[Terms, ...] = ()
    raw: str = ""
    # Normalised strings a whole field value may equal to rank first: the query, its words.
    exact: tuple[str, ...] = ()

    @property
    def all_tokens(self) -> list[str]:
        return [t for g in self.groups for alt in g for t in alt.tokens]

    @property
    def partial(self) -> bool:
        """Whether some word matches by a share of its tokens (`meta.matching`)."""
        return any(alt.partial for g in self.groups for alt in g)


@dataclass(frozen=True, slots=True)
class FilterClause:
    field: FilterField
    values: tuple[Scalar, ...] = ()  # OR of values
    lower: Scalar | None = None  # ranges, inclusive
    upper: Scalar | None = None
    negate: bool = False


@dataclass(frozen=True, slots=True)
class SortKey:
    field: str  # a FilterField name, or "relevance"
    descending: bool


@dataclass(frozen=True, slots=True)
class SearchRequest:
    libraries: tuple[str, ...]
    scope: VisibilityScope
    text: TextQuery | None = None
    filters: tuple[FilterClause, ...] = ()
    sort: tuple[SortKey, ...] = ()
    facets: tuple[FilterField, ...] = ()
    offset: int = 0
    size: int = 20
    # Keyset position after the last hit of the previous page (cursor paging).
    search_after: tuple[Any, ...] | None = None
    facet_size: int = 50


@dataclass(slots=True)
class Hit:
    library: str
    id: str
    score: float | None
    source: dict[str, Any]
    sort_values: tuple[Any, ...]


@dataclass(slots=True)
class FacetBucket:
    value: Scalar
    count: int


@dataclass(slots=True)
class SearchResult:
    total: int
    hits: list[Hit]
    facets: dict[str, list[FacetBucket]] = field(default_factory=dict)


@dataclass(slots=True)
class Suggestion:
    library: str
    id: str
    label: str
    hint: str | None
    score: float


@dataclass(slots=True)
class StatsBucket:
    key: tuple[Scalar, ...]
    count: int
