"""Change-feed documents → IndexDocuments: analysed tokens, filter values, joined names.

Denormalisation happens here: an expert's document carries its institutions' names, an
outcome's its authors' and institutions' names, so "清华 人工智能 专家" finds experts. The
joined names come from the index itself (`sources`), and a rename re-builds the documents
that mention it (see sink.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

from services.gateway.search.analysis import Analyzer
from services.gateway.search.analysis import normalize
from services.gateway.search.model import IndexDocument
from services.gateway.search.model import LibrarySchema
from services.gateway.search.model import Scalar
from services.kernel.pinyin import Pinyin
from services.kernel.pinyin import person_name_pinyin
from services.kernel.pinyin import text_pinyin

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


def text_tokens(analyzer: Analyzer, *texts: str | None) -> str:
    return _join(t for text in texts if text for t in analyzer.index_tokens(text))


def name_tokens(analyzer: Analyzer, names: Iterable[str | None], *, person: bool = False) -> str:
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


def suggest_keys(names: Iterable[str | None], *, person: bool = False) -> list[str]:
    keys: list[str] = []
    for name in names:
        if not name:
            continue
        keys.append(normalize(name).replace(" ", ""))
        reading = person_name_pinyin(name) if person else _text_pinyin(name)
        if reading.syllables:
            keys += ["".join(reading.syllables), reading.initials]
    return list(dict.fromkeys(k for k in keys if k))


def sort_key(text: str | None) -> list[Scalar]:
    # Chinese users expect 拼音 order; the pinyin string sorts that way in any backend.
    if not text:
        return []
    reading = _text_pinyin(text)
    return ["".join(reading.syllables) or normalize(text)]


def one(value: Any) -> list[Scalar]:
    return [] if value is None else [value]


def bylines(people: Iterable[Mapping[str, Any]], experts: Sources) -> list[dict[str, Any]]:
    """People as printed (an outcome's authors, an event's participants): `name` is the name
    as sent or, when none was, the linked expert's current name. The name as sent stays in
    `printed_name`: a rename fan-out re-builds from this (joined) document and must join the
    expert's current name, not the one joined before."""
    joined = []
    for person in people:
        printed = person["printed_name"] if "printed_name" in person else person.get("name")
        current = experts.get(person.get("expert_id") or "", {}).get("name")
        joined.append({**person, "name": printed or current, "printed_name": printed})
    return joined


def names_of(sources: Sources, ids: Iterable[str], key: str = "name") -> list[str]:
    return [str(sources[i][key]) for i in ids if i in sources and sources[i].get(key)]


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
        text.name: text_tokens(analyzer, *_as_texts(values.get(text.name)))
        for text in schema.text_fields
    }
    title = source.get("title") or source["id"]
    return schema.document(
        source,
        label=str(title),
        # Its fields' values, and when it changed (every special database sorts by that).
        read_from={**values, "updated_at": source.get("updated_at")},
        tokens=tokens,
        suggest=suggest_keys([str(title)]),
        suggest_hint=source.get("dataset"),
    )


def _as_texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def exact_values(analyzer: Analyzer, values: Sequence[str]) -> list[str]:
    """Whole values as a query is compared with them (TextField.exact_boost)."""
    return [v for v in dict.fromkeys(analyzer.normalize(value) for value in values) if v]


def short_form_tokens(analyzer: Analyzer, forms: Sequence[str]) -> str:
    """A short form whole, and as a query splits it (北中医 → 北 中医), so it is found both ways."""
    return " ".join(dict.fromkeys(t for f in forms for t in (f, *analyzer.query_tokens(f))))
