"""Change-feed documents → IndexDocuments: analysed tokens, filter values, joined names.

Denormalisation happens here: an expert's document carries its institutions' names, an
outcome's its authors' and institutions' names, so "清华 人工智能 专家" finds experts. The
joined names come from the index itself (`sources`), and a rename re-builds the documents
that mention it (see sink.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

from services.gateway.search.analysis import Analyzer, normalize
from services.gateway.search.fields import dataset_library
from services.gateway.search.model import IndexDocument, LibrarySchema, Scalar
from services.kernel.pinyin import Pinyin, person_name_pinyin, text_pinyin

Sources = Mapping[str, Mapping[str, Any]]

# Index versions: the record version, then milliseconds since 2020, so a re-build with fresh
# joined names (same record version) still supersedes the stored document, while any newer
# record version (or tombstone) always wins over an older one however late it arrives.
_EPOCH_MS = 1_577_836_800_000
_VERSION_SPAN = 10**12


def index_version(record_version: int, now_ms: int | None = None) -> int:
    now_ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    return record_version * _VERSION_SPAN + (now_ms - _EPOCH_MS) % _VERSION_SPAN


def _join(tokens: Iterable[str]) -> str:
    # Repeats are kept: a token's positions make "quoted phrases" match (a phrase whose first
    # word occurred earlier in the text would otherwise lose its place), and BM25 counts them.
    return " ".join(t for t in tokens if t)


def _text_tokens(analyzer: Analyzer, *texts: str | None) -> str:
    return _join(t for text in texts if text for t in analyzer.index_tokens(text))


def _name_tokens(analyzer: Analyzer, names: Iterable[str | None], *, person: bool = False) -> str:
    cache = _NAME_TOKENS.get(analyzer)
    if cache is None:
        cache = _NAME_TOKENS[analyzer] = _NameTokenCache()
    return _join(cache.tokens(analyzer, name, person) for name in names if name)


# Names analysed at most this often per dictionary state; a bulk load's names repeat (the same
# keywords, authors and institutions), and their pinyin is half of building a document.
MAX_CACHED_NAMES = 100_000


class _NameTokenCache:
    """Each name's joined tokens, kept while the analyzer's dictionary stays the same."""

    def __init__(self) -> None:
        self.state: tuple[int, float] | None = None
        self.joined: dict[tuple[str, bool], str] = {}

    def tokens(self, analyzer: Analyzer, name: str, person: bool) -> str:
        state = analyzer.dictionary_state
        if state != self.state or len(self.joined) >= MAX_CACHED_NAMES:
            # A new word may cut a name differently: forget what was analysed before it.
            self.joined.clear()
            self.state = state
        key = (name, person)
        found = self.joined.get(key)
        if found is None:
            found = self.joined[key] = _join(analyzer.name_tokens(name, person=person))
        return found


_NAME_TOKENS: WeakKeyDictionary[Analyzer, _NameTokenCache] = WeakKeyDictionary()


@lru_cache(maxsize=4096)
def _text_pinyin(text: str) -> Pinyin:
    # A title's reading is both its sort key and its suggestion keys: computed once.
    return text_pinyin(text)


def _suggest_keys(names: Iterable[str | None], *, person: bool = False) -> list[str]:
    keys: list[str] = []
    for name in names:
        if not name:
            continue
        keys.append(normalize(name).replace(" ", ""))
        reading = person_name_pinyin(name) if person else _text_pinyin(name)
        if reading.syllables:
            keys += ["".join(reading.syllables), reading.initials]
    return list(dict.fromkeys(k for k in keys if k))


def _sort_key(text: str | None) -> list[Scalar]:
    # Chinese users expect 拼音 order; the pinyin string sorts that way in any backend.
    if not text:
        return []
    reading = _text_pinyin(text)
    return ["".join(reading.syllables) or normalize(text)]


def _date(value: str | None) -> list[Scalar]:
    return [date.fromisoformat(value[:10])] if value else []


def _one(value: Any) -> list[Scalar]:
    return [] if value is None else [value]


def _names(sources: Sources, ids: Iterable[str], key: str = "name") -> list[str]:
    return [str(sources[i][key]) for i in ids if i in sources and sources[i].get(key)]


def _common(source: Mapping[str, Any]) -> dict[str, list[Scalar]]:
    return {
        "owner_org": _one(source.get("owner_org")),
        "updated_at": _date(source.get("updated_at")),
        "created_at": _date(source.get("created_at")),
    }


def institution_document(source: dict[str, Any], analyzer: Analyzer) -> IndexDocument:
    names = [source["name"], *source.get("aliases", []), *source.get("acronyms", [])]
    # Short forms users type (北航, 川大, 哈工大): see Analyzer.short_forms.
    forms = [analyzer.short_forms(name) for name in names[:2]]
    sure = list(dict.fromkeys(f for found in forms for f in found.sure))
    short = list(dict.fromkeys(f for found in forms for f in found.all))
    return IndexDocument(
        library="institutions",
        id=source["id"],
        version=source["version"],
        visibility=source.get("visibility", "public"),
        owner_org=source.get("owner_org"),
        label=source["name"],
        source=source,
        tokens={
            "name": _name_tokens(analyzer, [source["name"]]),
            "aliases": _name_tokens(analyzer, names[1:]),
            "short_forms": _short_form_tokens(analyzer, short),
            "name_en": _text_tokens(analyzer, source.get("name_en")),
            "description": _text_tokens(analyzer, source.get("description")),
        },
        values={
            "type": _one(source.get("type")),
            "province": _one(source.get("province")),
            "city": _one(source.get("city")),
            "region_code": _one(source.get("region_code")),
            "status": _one(source.get("status")),
            "parent_id": _one(source.get("parent_id")),
            "tags": list(source.get("tags", [])),
            "established_year": _one(source.get("established_year")),
            "has_ror": [bool(source.get("ror_id"))],
            "name": _sort_key(source["name"]),
            **_common(source),
        },
        suggest=_suggest_keys([*names, *short]),
        suggest_hint=" · ".join(x for x in (source.get("type_label"), source.get("province")) if x)
        or None,
        exact={"name": _exact(analyzer, names), "short_forms": _exact(analyzer, sure)},
    )


def expert_document(
    source: dict[str, Any], institutions: Sources, analyzer: Analyzer
) -> IndexDocument:
    ids = list(source.get("institution_ids", []))
    institution_names = _names(institutions, ids)
    joined = {
        **source,
        "institution_names": institution_names,
        "affiliations": [
            {**a, "institution_name": institutions.get(a.get("institution_id"), {}).get("name")}
            for a in source.get("affiliations", [])
        ],
    }
    primary = institutions.get(source.get("primary_institution_id") or "", {})
    return IndexDocument(
        library="experts",
        id=source["id"],
        version=source["version"],
        visibility=source.get("visibility", "public"),
        owner_org=source.get("owner_org"),
        label=source["name"],
        source=joined,
        tokens={
            "name": _name_tokens(analyzer, [source["name"]], person=True)
            + " "
            + _text_tokens(analyzer, source.get("name_en")),
            "institutions": _name_tokens(analyzer, institution_names),
            "areas": _text_tokens(analyzer, *source.get("research_areas", []), source.get("title")),
            "bio": _text_tokens(analyzer, source.get("bio"), *source.get("honors", [])),
        },
        values={
            "institution": ids,
            "discipline": list(source.get("disciplines_with_ancestors", [])),
            "title": _one(source.get("title")),
            "honors": list(source.get("honors", [])),
            "province": _one(primary.get("province")),
            "has_orcid": [bool(source.get("orcid"))],
            "name": ["".join(person_name_pinyin(source["name"]).syllables) or source["name"]],
            **_common(source),
        },
        suggest=_suggest_keys([source["name"]], person=True),
        exact={"name": _exact(analyzer, [source["name"]])},
        suggest_hint=primary.get("name") or (institution_names[0] if institution_names else None),
    )


def outcome_document(
    source: dict[str, Any], experts: Sources, institutions: Sources, analyzer: Analyzer
) -> IndexDocument:
    authors = []
    for a in source.get("authors", []):
        # The byline as sent stays in `printed_name`: a rename fan-out re-builds from this
        # (joined) document, and must join the expert's current name, not the one joined before.
        printed = a["printed_name"] if "printed_name" in a else a.get("name")
        joined_name = experts.get(a.get("expert_id") or "", {}).get("name")
        authors.append({**a, "name": printed or joined_name, "printed_name": printed})
    author_names = [a["name"] for a in authors if a.get("name")]
    institution_names = _names(institutions, source.get("institution_ids", []))
    joined = {
        **source,
        "authors": authors,
        "author_names": author_names,
        "institution_names": institution_names,
    }
    year = source.get("published_year")
    return IndexDocument(
        library="outcomes",
        id=source["id"],
        version=source["version"],
        visibility=source.get("visibility", "internal"),
        owner_org=source.get("owner_org"),
        label=source["title"],
        source=joined,
        tokens={
            "title": _text_tokens(analyzer, source["title"]),
            "keywords": _name_tokens(analyzer, source.get("keywords", [])),
            "authors": _name_tokens(analyzer, author_names, person=True),
            "abstract": _text_tokens(analyzer, source.get("abstract")),
            "institutions": _name_tokens(analyzer, institution_names),
            "full_text": _text_tokens(analyzer, source.get("full_text_excerpt")),
        },
        values={
            "type": _one(source.get("type")),
            "year": _one(year),
            "published_on": _date(source.get("published_on")),
            "language": _one(source.get("language")),
            "visibility": _one(source.get("visibility")),
            "series": _one(source.get("series")),
            "keyword": list(source.get("keywords", [])),
            "discipline": list(source.get("discipline_codes", [])),
            "author": list(source.get("author_expert_ids", [])),
            "institution": list(source.get("institution_ids", [])),
            "has_doi": [bool(source.get("doi"))],
            "title": _sort_key(source["title"]),
            **_common(source),
        },
        suggest=_suggest_keys([source["title"]]),
        exact={"keywords": _exact(analyzer, source.get("keywords", []))},
        suggest_hint=" · ".join(str(x) for x in (source.get("type_label"), year) if x) or None,
    )


# The records a document joins in, per linked library (kernel/library.py `Link`), by ID.
Joins = Mapping[str, Sources]
DocumentBuilder = Callable[[dict[str, Any], Joins, Analyzer], IndexDocument]


def _institution(source: dict[str, Any], _joins: Joins, analyzer: Analyzer) -> IndexDocument:
    # The library's own names join the segmentation dictionary (DESIGN.md).
    analyzer.add_terms(n for n in [source.get("name"), *source.get("aliases", [])] if n)
    return institution_document(source, analyzer)


def _expert(source: dict[str, Any], joins: Joins, analyzer: Analyzer) -> IndexDocument:
    return expert_document(source, joins.get("institutions", {}), analyzer)


def _outcome(source: dict[str, Any], joins: Joins, analyzer: Analyzer) -> IndexDocument:
    return outcome_document(
        source, joins.get("experts", {}), joins.get("institutions", {}), analyzer
    )


# How each record library's change-feed document becomes its search document.
RECORD_DOCUMENTS: dict[str, DocumentBuilder] = {
    "institutions": _institution,
    "experts": _expert,
    "outcomes": _outcome,
}


def dataset_document(definition: dict[str, Any]) -> IndexDocument:
    """A special database's definition, kept in the index so record schemas survive restarts."""
    return IndexDocument(
        library="datasets",
        id=definition["id"],
        version=definition["version"],
        visibility=definition.get("visibility", "internal"),
        owner_org=definition.get("owner_org"),
        label=definition.get("name") or definition["slug"],
        source=definition,
        values={"slug": [definition["slug"]]},
    )


def dataset_record_document(
    source: dict[str, Any], schema: LibrarySchema, analyzer: Analyzer
) -> IndexDocument:
    values = source.get("values", {})
    tokens = {
        text.name: _text_tokens(analyzer, *_as_texts(values.get(text.name)))
        for text in schema.text_fields
    }
    filters: dict[str, list[Scalar]] = {}
    for field in schema.fields.values():
        raw = source.get(field.name) if field.name == "updated_at" else values.get(field.name)
        items = raw if isinstance(raw, list) else ([] if raw is None else [raw])
        if field.kind.value == "date":
            filters[field.name] = [date.fromisoformat(str(v)[:10]) for v in items]
        else:
            filters[field.name] = list(items)
    title = source.get("title") or source["id"]
    return IndexDocument(
        library=dataset_library(source["dataset"]),
        id=source["id"],
        version=source["version"],
        visibility=source.get("visibility", "internal"),
        owner_org=source.get("owner_org"),
        label=str(title),
        source=source,
        tokens=tokens,
        values=filters,
        suggest=_suggest_keys([str(title)]),
        suggest_hint=source.get("dataset"),
    )


def _as_texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _exact(analyzer: Analyzer, values: Sequence[str]) -> list[str]:
    """Whole values as a query is compared with them (TextField.exact_boost)."""
    return [v for v in dict.fromkeys(analyzer.normalize(value) for value in values) if v]


def _short_form_tokens(analyzer: Analyzer, forms: Sequence[str]) -> str:
    """A short form whole, and as a query splits it (北中医 → 北 中医), so it is found both ways."""
    return " ".join(dict.fromkeys(t for f in forms for t in (f, *analyzer.query_tokens(f))))
