"""Elasticsearch search backend: one index per library behind an alias.

Layout
    Every library lives in a concrete index `{prefix}_{library}_v{n}` reached only through the
    alias `{prefix}_{library}` (`/` in dataset libraries becomes `.`; names that are not plain
    lower-case identifiers get a hash suffix so the mapping stays injective).
    `ensure_library` creates the first index with its alias, or adds new fields to the mapping
    (add-only; a changed field type raises MappingConflict: run `rebuild_library`).
    `rebuild_library` bulk-loads a fresh index, swaps the alias atomically and deletes the old
    index; writes that reached the old index meanwhile (and every tombstone) are copied over
    with their external versions, so nothing written during a rebuild is lost. The schema
    (text fields and boosts, field kinds, default sort) is kept in the mapping's `_meta`, so a
    process that never called `ensure_library` can still query.

Documents
    `tok_<field>`: `text` with the configured analyzer (default `whitespace`: tokens arrive
    analysed, so a token is an opaque, case-sensitive word) and BM25. `v_<field>`: the filter
    values as keyword / long / double / date / boolean (arrays are natural). `s_<field>`: the
    first value of sortable fields, because the contract sorts multi-valued fields by their
    first value and ES would sort by min/max. `source`: an `enabled: false` object (stored, not
    indexed). `suggest` + `suggest_sized` are keywords for autocomplete (see `suggest`).

Versions and tombstones
    Writes are bulk `index` actions with `version_type=external`; 409 means "stale, ignored".
    A delete does not delete: it overwrites the document with a small tombstone
    (`deleted: true`) at the delete's version, so the version is remembered forever (a real ES
    delete forgets it after `index.gc_deletes`) and a late older upsert cannot resurrect the
    record. Every read filters tombstones out.

Queries
    Built as DSL dicts; user tokens only ever appear as `match` / `match_phrase` / `term` /
    `terms` / `prefix` values, never in query-string syntax. A token matches if it occurs in any
    of the library's text fields (`bool should` of `match` per field, weighted by the field
    boost, summed like most_fields); an alternative needs all its tokens; a group needs one
    alternative; every group is required; excluded alternatives go to `must_not`. Phrases use
    `match_phrase` on each field. Highlighting is not done here: raw text is not indexed (only
    tokens are), so the API highlights from `source`.

Multi-library search
    One `_search` over several aliases; each library's text query is restricted to its own
    documents (`term library`), since field boosts differ between libraries. With more than one
    library and a text query we use `dfs_query_then_fetch`, so term and field statistics (IDF,
    average length) are computed over all the searched indices together: scores then behave as
    if the libraries were one index, which makes merging by score meaningful.

Errors
    Connection failures, timeouts, 429 and 5xx raise IndexUnavailable; other rejections raise
    SearchBackendError (a 400 from a malformed cursor, for instance). Messages carry at most a
    status and an error type, never Elasticsearch's response text (that is logged instead).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import unicodedata
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from functools import partial
from typing import Any
from typing import TypeVar

from elastic_transport import HttpxAsyncHttpNode
from elasticsearch import ApiError
from elasticsearch import AsyncElasticsearch
from elasticsearch import SerializationError
from elasticsearch import TransportError
from elasticsearch.serializer import OrjsonSerializer

from services.gateway.search.backends.base import IndexUnavailable
from services.gateway.search.model import FacetBucket
from services.gateway.search.model import FieldKind
from services.gateway.search.model import FilterClause
from services.gateway.search.model import FilterField
from services.gateway.search.model import Hit
from services.gateway.search.model import IndexDocument
from services.gateway.search.model import LibrarySchema
from services.gateway.search.model import Scalar
from services.gateway.search.model import SearchRequest
from services.gateway.search.model import SearchResult
from services.gateway.search.model import StatsBucket
from services.gateway.search.model import Suggestion
from services.gateway.search.model import Terms
from services.gateway.search.model import TextQuery
from services.kernel.visibility import VisibilityScope

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_RESULT_WINDOW = 10_000  # ES index.max_result_window: offset + size beyond it needs a cursor
BULK_CHUNK = 500
PAGE = 1_000
# Suggest keys up to this many characters are ranked by exact length; longer ones tie last.
SUGGEST_RANKED_LENGTH = 48
# A rebuild copies writes from the old index made since it started, minus this clock margin.
CLOCK_SKEW_MS = 120_000
_META_VERSION = 1

_ES_TYPES: dict[FieldKind, str] = {
    FieldKind.KEYWORD: "keyword",
    FieldKind.INTEGER: "long",
    FieldKind.NUMBER: "double",
    FieldKind.DATE: "date",
    FieldKind.BOOLEAN: "boolean",
}
_PLAIN_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_VERSIONED = re.compile(r"_v\d+$")


class SearchBackendError(RuntimeError):
    """Elasticsearch rejected a request for a reason other than being unavailable."""


class MappingConflict(SearchBackendError):
    """A field changed type or analyzer; only `rebuild_library` (`zhihui reindex`) can apply it."""


def index_name_for(library: str) -> str:
    """A valid, deterministic and injective index-name fragment for a library name.

    Plain names (lower-case letters, digits, `_`, `-`, segments joined by `/`) keep their
    spelling with `/` → `.` (a dot never occurs in a plain name). Anything else, and plain names
    that end like a concrete-index suffix (`_v3`), is reduced to safe characters and gets a
    short hash of the original name.
    """
    if _PLAIN_NAME.match(library) and not _VERSIONED.search(library) and len(library) <= 120:
        return library.replace("/", ".")
    digest = hashlib.sha256(library.encode()).hexdigest()[:10]
    safe = re.sub(r"[^a-z0-9_-]+", "-", library.replace("/", ".").lower()).strip("-_.")
    safe = re.sub(r"[^a-z0-9_.-]", "-", safe)[:100]
    return f"{safe}-{digest}" if safe else digest


@dataclass(frozen=True, slots=True)
class _Library:
    """What queries need to know about one library (mirrors the mapping's `_meta`)."""

    name: str
    text_fields: tuple[tuple[str, float], ...]
    kinds: dict[str, str]
    sortable: frozenset[str]
    default_sort: tuple[tuple[str, bool], ...]
    # Text fields whose whole values a query may equal (`exact_<name>`), with the bonus.
    exact_fields: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_schema(cls, schema: LibrarySchema) -> _Library:
        sortable = {f.name for f in schema.fields.values() if f.sortable}
        sortable |= {name for name, _ in schema.default_sort if name in schema.fields}
        return cls(
            name=schema.name,
            text_fields=tuple((t.name, float(t.boost)) for t in schema.text_fields),
            kinds={f.name: str(f.kind) for f in schema.fields.values()},
            sortable=frozenset(sortable),
            default_sort=tuple((name, bool(desc)) for name, desc in schema.default_sort),
            exact_fields=tuple(
                (t.name, float(t.exact_boost)) for t in schema.text_fields if t.exact_boost
            ),
        )

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> _Library:
        return cls(
            name=str(meta["library"]),
            text_fields=tuple((str(n), float(b)) for n, b in meta.get("text_fields", [])),
            kinds={str(k): str(v) for k, v in meta.get("kinds", {}).items()},
            sortable=frozenset(meta.get("sortable", [])),
            default_sort=tuple((str(n), bool(d)) for n, d in meta.get("default_sort", [])),
            exact_fields=tuple((str(n), float(b)) for n, b in meta.get("exact_fields", [])),
        )

    def meta(self) -> dict[str, Any]:
        return {
            "zhihui_meta": _META_VERSION,
            "library": self.name,
            "text_fields": [list(t) for t in self.text_fields],
            "kinds": dict(sorted(self.kinds.items())),
            "sortable": sorted(self.sortable),
            "default_sort": [list(s) for s in self.default_sort],
            "exact_fields": [list(e) for e in self.exact_fields],
        }


def _es_value(value: Scalar) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _from_bucket_key(kind: str | None, key: Any, key_as_string: str | None = None) -> Scalar:
    """A facet/stats bucket key back in the FilterField's Python type."""
    if kind == FieldKind.DATE:
        if isinstance(key, int | float):
            return datetime.fromtimestamp(key / 1000, tz=UTC).date()
        return date.fromisoformat(str(key)[:10])
    if kind == FieldKind.BOOLEAN:
        if isinstance(key, bool):
            return key
        if key_as_string is not None:
            return key_as_string == "true"
        return key in (1, "true")
    if kind == FieldKind.INTEGER and isinstance(key, int | float):
        return int(key)
    if kind == FieldKind.NUMBER and isinstance(key, int | float):
        return float(key)
    return key


def _normalise_prefix(prefix: str) -> str:
    return unicodedata.normalize("NFKC", prefix).lower().strip()


class ElasticsearchBackend:
    """SearchBackend on Elasticsearch 9 (see the module docstring for the design)."""

    def __init__(
        self,
        url: str,
        *,
        index_prefix: str = "zhihui",
        refresh_on_write: bool = False,
        analyzer: str = "whitespace",
        request_timeout: float = 10.0,
    ) -> None:
        if not _PREFIX.match(index_prefix):
            raise ValueError(f"index_prefix {index_prefix!r}: use lower-case letters, digits, _ -")
        self._prefix = index_prefix
        self._refresh = bool(refresh_on_write)
        # Aliases written since their last refresh (by this process), see `referencing`.
        self._unrefreshed: set[str] = set()
        self._analyzer = analyzer
        self._client = AsyncElasticsearch(
            url,
            node_class=HttpxAsyncHttpNode,
            request_timeout=request_timeout,
            max_retries=1,
            retry_on_timeout=False,
            # orjson, not the json module: decoding the hits' sources was the largest share of
            # a search's time in the gateway (bench/README.md, "Search latency").
            serializer=OrjsonSerializer(),
        )
        self._libraries: dict[str, tuple[float, _Library]] = {}
        self._library_ttl = 60.0

    # ------------------------------------------------------------------ names and plumbing

    def alias(self, library: str) -> str:
        """The alias every read and write of `library` goes through."""
        return f"{self._prefix}_{index_name_for(library)}"

    def _concrete_pattern(self, alias: str) -> re.Pattern[str]:
        return re.compile(rf"^{re.escape(alias)}_v(\d+)$")

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run one client call, turning transport and server failures into our exceptions."""
        try:
            return await call()
        except ApiError as exc:
            status = exc.status_code
            kind = _error_type(exc)
            log.warning("elasticsearch %s failed: %s %s: %s", what, status, kind, exc.message)
            if status == 429 or status >= 500:
                raise IndexUnavailable(
                    f"Elasticsearch could not {what} (HTTP {status}); retry later"
                ) from None
            raise SearchBackendError(
                f"Elasticsearch rejected {what} (HTTP {status}, {kind})"
            ) from None
        except SerializationError:
            log.warning("elasticsearch %s failed: a value could not be serialised", what)
            raise SearchBackendError(f"could not {what}: a value is not serialisable") from None
        except TransportError as exc:  # connection refused, timeouts, TLS
            log.warning("elasticsearch %s failed: %s", what, type(exc).__name__)
            raise IndexUnavailable(f"Elasticsearch is unreachable ({what}); retry later") from None
        except AttributeError as exc:
            # A connection the server closes while it is being set up (Elasticsearch killed
            # at that moment) makes anyio call getpeername() on a socket that is gone; the
            # transport lets that AttributeError through. It is an outage, not our bug.
            if "getpeername" not in str(exc):
                raise
            log.warning("elasticsearch %s failed: connection closed while opening", what)
            raise IndexUnavailable(f"Elasticsearch is unreachable ({what}); retry later") from None

    async def _exists_alias(self, alias: str) -> bool:
        response = await self._call(
            "check an alias", lambda: self._client.indices.exists_alias(name=alias)
        )
        return bool(response)

    async def _alias_targets(self, alias: str) -> list[str]:
        if not await self._exists_alias(alias):
            return []
        response = await self._call(
            "read an alias", lambda: self._client.indices.get_alias(name=alias)
        )
        return sorted(response.body)

    async def _concrete_indices(self, alias: str) -> dict[str, int]:
        """Every concrete index of an alias that exists (including orphans), with its number."""
        response = await self._call(
            "list indices",
            lambda: self._client.indices.get(
                index=f"{alias}_v*", expand_wildcards="all", features="aliases"
            ),
        )
        pattern = self._concrete_pattern(alias)
        found: dict[str, int] = {}
        for name in response.body:
            match = pattern.match(name)
            if match:
                found[name] = int(match.group(1))
        return found

    # ------------------------------------------------------------------ mappings

    def _mapping(self, library: _Library) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "id": {"type": "keyword"},
            "library": {"type": "keyword"},
            "visibility": {"type": "keyword"},
            "owner_org": {"type": "keyword"},
            "deleted": {"type": "boolean"},
            "version": {"type": "long", "index": False},
            "indexed_at": {"type": "long"},
            "label": {"type": "keyword", "ignore_above": 1024},
            "suggest": {"type": "keyword", "ignore_above": 512},
            "suggest_sized": {"type": "keyword", "ignore_above": 512},
            "suggest_hint": {"type": "keyword", "index": False, "doc_values": False},
            "source": {"type": "object", "enabled": False},
        }
        for name, _boost in library.text_fields:
            properties[f"tok_{name}"] = {
                "type": "text",
                "analyzer": self._analyzer,
                "similarity": "BM25",
            }
        for name, _boost in library.exact_fields:
            properties[f"exact_{name}"] = {"type": "keyword", "ignore_above": 1024}
        for name, kind in library.kinds.items():
            es_type = _ES_TYPES[FieldKind(kind)]
            field: dict[str, Any] = {"type": es_type}
            if es_type == "keyword":
                field["ignore_above"] = 4096
            properties[f"v_{name}"] = field
            if name in library.sortable:
                properties[f"s_{name}"] = dict(field)
        return {"dynamic": False, "_meta": library.meta(), "properties": properties}

    def _settings(self, *, loading: bool = False) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "number_of_shards": 1,
            "auto_expand_replicas": "0-1",
            "max_result_window": MAX_RESULT_WINDOW,
        }
        if loading:
            settings["refresh_interval"] = "-1"
        return settings

    def _remember(self, library: _Library) -> None:
        self._libraries[library.name] = (time.monotonic(), library)

    async def _library(self, name: str) -> _Library | None:
        """The library's query info, from this process's cache or the mapping `_meta`."""
        cached = self._libraries.get(name)
        if cached and time.monotonic() - cached[0] < self._library_ttl:
            return cached[1]
        alias = self.alias(name)
        if not await self._exists_alias(alias):
            self._libraries.pop(name, None)
            return None
        response = await self._call(
            "read a mapping", lambda: self._client.indices.get_mapping(index=alias)
        )
        for body in response.body.values():
            meta = body.get("mappings", {}).get("_meta")
            if meta and meta.get("library") == name:
                library = _Library.from_meta(meta)
                self._remember(library)
                return library
        return None

    async def ensure_library(self, schema: LibrarySchema) -> None:
        library = _Library.from_schema(schema)
        alias = self.alias(schema.name)
        mapping = self._mapping(library)
        for _attempt in range(3):
            if await self._exists_alias(alias):
                await self._update_mapping(alias, mapping)
                self._remember(library)
                return
            existing = await self._concrete_indices(alias)
            index = f"{alias}_v{max(existing.values(), default=0) + 1}"
            try:
                await self._call(
                    "create an index",
                    partial(
                        self._client.indices.create,
                        index=index,
                        settings=self._settings(),
                        mappings=mapping,
                        aliases={alias: {"is_write_index": True}},
                    ),
                )
            except SearchBackendError as exc:
                if "resource_already_exists_exception" not in str(exc):
                    raise
                continue  # another process created it first: update that one instead
            self._remember(library)
            return
        raise SearchBackendError(f"could not create the index for library {schema.name!r}")

    async def _update_mapping(self, alias: str, mapping: dict[str, Any]) -> None:
        response = await self._call(
            "read a mapping", lambda: self._client.indices.get_mapping(index=alias)
        )
        current: dict[str, Any] = {}
        current_meta: dict[str, Any] | None = None
        for body in response.body.values():
            current = body.get("mappings", {}).get("properties", {})
            current_meta = body.get("mappings", {}).get("_meta")
        additions: dict[str, Any] = {}
        conflicts: list[str] = []
        for name, wanted in mapping["properties"].items():
            have = current.get(name)
            if have is None:
                additions[name] = wanted
            elif have.get("type", "object") != wanted["type"] or (
                wanted["type"] == "text" and have.get("analyzer") != wanted.get("analyzer")
            ):
                conflicts.append(name)
        if conflicts:
            raise MappingConflict(
                f"index {alias} has incompatible fields {sorted(conflicts)}: "
                "rebuild the library (`zhihui reindex`) to change them"
            )
        if additions or current_meta != mapping["_meta"]:
            await self._call(
                "update a mapping",
                lambda: self._client.indices.put_mapping(
                    index=alias, properties=additions, meta=mapping["_meta"]
                ),
            )

    async def drop_library(self, name: str) -> None:
        alias = self.alias(name)
        indices = set(await self._concrete_indices(alias)) | set(await self._alias_targets(alias))
        for index in sorted(indices):
            await self._call(
                "delete an index",
                partial(self._client.indices.delete, index=index, ignore_unavailable=True),
            )
        self._libraries.pop(name, None)

    async def rebuild_library(
        self, schema: LibrarySchema, documents: AsyncIterator[IndexDocument]
    ) -> int:
        """Build a fresh index from `documents`, swap the alias to it, drop the old one.

        Searches keep using the old index until the atomic alias swap. Writes that reach the
        old index while this runs are not lost: tombstones and everything written since the
        rebuild started are copied into the new index with their external versions (before and
        again after the swap), so the newer version always wins. Returns the number of
        documents loaded from `documents`. Run one rebuild per library at a time.
        """
        started_ms = _now_ms() - CLOCK_SKEW_MS
        library = _Library.from_schema(schema)
        alias = self.alias(schema.name)
        existing = await self._concrete_indices(alias)
        new_index = f"{alias}_v{max(existing.values(), default=0) + 1}"
        await self._call(
            "create an index",
            lambda: self._client.indices.create(
                index=new_index,
                settings=self._settings(loading=True),
                mappings=self._mapping(library),
            ),
        )
        loaded = 0
        try:
            batch: list[IndexDocument] = []
            async for document in documents:
                if document.library != schema.name:
                    raise ValueError(
                        f"document {document.id} belongs to {document.library!r}, "
                        f"not {schema.name!r}"
                    )
                batch.append(document)
                if len(batch) >= BULK_CHUNK:
                    await self._bulk(self._upsert_actions(batch, new_index), refresh=False)
                    loaded += len(batch)
                    batch = []
            if batch:
                await self._bulk(self._upsert_actions(batch, new_index), refresh=False)
                loaded += len(batch)
            old = await self._alias_targets(alias)
            caught_up_ms = _now_ms() - CLOCK_SKEW_MS
            for index in old:
                await self._copy_changes(index, new_index, since_ms=started_ms, tombstones=True)
            await self._call(
                "update index settings",
                lambda: self._client.indices.put_settings(
                    index=new_index, settings={"index": {"refresh_interval": None}}
                ),
            )
            await self._call(
                "refresh an index", lambda: self._client.indices.refresh(index=new_index)
            )
            actions: list[dict[str, Any]] = [
                {"remove": {"index": index, "alias": alias}} for index in old
            ]
            actions.append({"add": {"index": new_index, "alias": alias, "is_write_index": True}})
            await self._call(
                "swap an alias", lambda: self._client.indices.update_aliases(actions=actions)
            )
        except BaseException:
            await self._delete_quietly(new_index)
            raise
        for index in old:  # writes that raced the swap
            await self._copy_changes(index, new_index, since_ms=caught_up_ms, tombstones=False)
        if self._refresh:
            await self._call(
                "refresh an index", lambda: self._client.indices.refresh(index=new_index)
            )
        for index in sorted(set(existing) | set(old)):
            if index != new_index:
                await self._delete_quietly(index)
        self._remember(library)
        return loaded

    async def _delete_quietly(self, index: str) -> None:
        try:
            await self._call(
                "delete an index",
                lambda: self._client.indices.delete(index=index, ignore_unavailable=True),
            )
        except (IndexUnavailable, SearchBackendError):
            log.warning("could not delete index %s; delete it by hand", index)

    async def _copy_changes(
        self, source_index: str, target_index: str, *, since_ms: int, tombstones: bool
    ) -> None:
        """Copy documents written since `since_ms` (and optionally all tombstones) over."""
        await self._call(
            "refresh an index", lambda: self._client.indices.refresh(index=source_index)
        )
        should: list[dict[str, Any]] = [{"range": {"indexed_at": {"gte": since_ms}}}]
        if tombstones:
            should.append({"term": {"deleted": True}})
        query = {"bool": {"should": should, "minimum_should_match": 1}}
        after: list[Any] | None = None
        while True:
            response = await self._call(
                "read changes",
                partial(
                    self._client.search,
                    index=source_index,
                    query=query,
                    sort=[{"id": "asc"}],
                    size=PAGE,
                    version=True,
                    search_after=after,
                ),
            )
            hits = response.body["hits"]["hits"]
            if not hits:
                return
            operations: list[dict[str, Any]] = []
            for hit in hits:
                operations.append(
                    {
                        "index": {
                            "_index": target_index,
                            "_id": hit["_id"],
                            "version": hit["_version"],
                            "version_type": "external",
                        }
                    }
                )
                operations.append(hit["_source"])
            await self._bulk(operations, refresh=False, skip_rejected=True)
            after = hits[-1]["sort"]

    # ------------------------------------------------------------------ writes

    def _document_body(self, document: IndexDocument) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": document.id,
            "library": document.library,
            "version": document.version,
            "indexed_at": _now_ms(),
            "deleted": False,
            "visibility": document.visibility,
            "owner_org": document.owner_org,
            "label": document.label,
            "source": document.source,
            "suggest": list(document.suggest),
            "suggest_sized": [f"{len(k):03d}|{k}" for k in document.suggest],
            "suggest_hint": document.suggest_hint,
        }
        for name, tokens in document.tokens.items():
            body[f"tok_{name}"] = tokens
        for name, strings in document.exact.items():
            body[f"exact_{name}"] = strings
        for name, values in document.values.items():
            converted = [_es_value(v) for v in values if v is not None]
            body[f"v_{name}"] = converted
            body[f"s_{name}"] = converted[0] if converted else None
        return body

    def _upsert_actions(
        self, documents: Iterable[IndexDocument], index: str | None = None
    ) -> list[dict[str, Any]]:
        operations: list[dict[str, Any]] = []
        for document in documents:
            operations.append(
                {
                    "index": {
                        "_index": index or self.alias(document.library),
                        "_id": document.id,
                        "version": document.version,
                        "version_type": "external",
                    }
                }
            )
            operations.append(self._document_body(document))
        return operations

    async def _bulk(
        self,
        operations: list[dict[str, Any]],
        *,
        refresh: bool,
        require_alias: bool = False,
        skip_rejected: bool = False,
    ) -> None:
        """Send index actions in chunks; 409 (stale version) is success, other refusals raise.

        `skip_rejected` only logs documents refused with a 4xx (used when copying old
        documents into a rebuilt index, whose mapping they may no longer fit).
        """
        for start in range(0, len(operations), 2 * BULK_CHUNK):
            chunk = operations[start : start + 2 * BULK_CHUNK]
            response = await self._call(
                "write documents",
                partial(
                    self._client.bulk,
                    operations=chunk,
                    refresh=self._refresh if refresh else False,
                    require_alias=require_alias or None,
                ),
            )
            if not response.body.get("errors"):
                continue
            for item in response.body["items"]:
                result = next(iter(item.values()))
                status = int(result.get("status", 200))
                if status < 300 or status == 409:  # 409: an equal or newer version is stored
                    continue
                error = result.get("error") or {}
                kind = error.get("type", "error") if isinstance(error, dict) else "error"
                log.warning(
                    "elasticsearch refused %s/%s: %s %s: %s",
                    result.get("_index"),
                    result.get("_id"),
                    status,
                    kind,
                    error.get("reason") if isinstance(error, dict) else error,
                )
                if skip_rejected and 400 <= status < 500 and status != 429:
                    continue
                if kind == "index_not_found_exception":
                    raise IndexUnavailable(
                        f"the index of {result.get('_index')} does not exist; "
                        "ensure_library must run first"
                    )
                raise IndexUnavailable(
                    f"Elasticsearch refused a write (HTTP {status}, {kind}); retry later"
                )

    async def upsert(self, documents: Sequence[IndexDocument]) -> None:
        if documents:
            await self._bulk(self._upsert_actions(documents), refresh=True, require_alias=True)
            if not self._refresh:
                self._unrefreshed.update(self.alias(d.library) for d in documents)

    async def delete(self, library: str, record_id: str, version: int) -> None:
        tombstone = {
            "id": record_id,
            "library": library,
            "version": version,
            "indexed_at": _now_ms(),
            "deleted": True,
        }
        action = {
            "index": {
                "_index": self.alias(library),
                "_id": record_id,
                "version": version,
                "version_type": "external",
            }
        }
        await self._bulk([action, tombstone], refresh=True, require_alias=True)
        if not self._refresh:
            self._unrefreshed.add(self.alias(library))

    # ------------------------------------------------------------------ reads for the indexer

    async def sources(self, library: str, ids: Sequence[str]) -> dict[str, dict]:
        alias = self.alias(library)
        found: dict[str, dict] = {}
        unique = list(dict.fromkeys(ids))
        # The library's cached query info says whether its alias exists, without asking
        # Elasticsearch on every call (facet labels call this for every search).
        if not unique or await self._library(library) is None:
            return found
        for start in range(0, len(unique), PAGE):
            chunk = unique[start : start + PAGE]
            response = await self._call(
                "read documents",
                partial(
                    self._client.mget, index=alias, ids=chunk, source_includes=["source", "deleted"]
                ),
            )
            for item in response.body["docs"]:
                body = item.get("_source")
                if item.get("found") and body and not body.get("deleted"):
                    found[item["_id"]] = body.get("source") or {}
        return found

    async def referencing(self, library: str, field: str, value: str) -> list[str]:
        query = {
            "bool": {
                "filter": [{"term": {f"v_{field}": value}}],
                "must_not": [{"term": {"deleted": True}}],
            }
        }
        ids: list[str] = []
        after: list[Any] | None = None
        alias = self.alias(library)
        if alias in self._unrefreshed:
            # A search sees only refreshed documents; the indexer must not miss one it wrote a
            # moment ago (a rename would skip it), so refresh what this process wrote first.
            await self._call(
                "refresh",
                lambda: self._client.indices.refresh(index=alias, ignore_unavailable=True),
            )
            self._unrefreshed.discard(alias)
        while True:
            response = await self._call(
                "search",
                partial(
                    self._client.search,
                    index=alias,
                    query=query,
                    sort=[{"id": "asc"}],
                    size=PAGE,
                    source=False,
                    search_after=after,
                    ignore_unavailable=True,
                    allow_no_indices=True,
                ),
            )
            hits = response.body["hits"]["hits"]
            ids.extend(hit["_id"] for hit in hits)
            if len(hits) < PAGE:
                return ids
            after = hits[-1]["sort"]

    # ------------------------------------------------------------------ queries

    async def _libraries_of(self, names: Sequence[str]) -> list[_Library]:
        found = []
        for name in dict.fromkeys(names):
            library = await self._library(name)
            if library is not None:
                found.append(library)
        return found

    def _query(
        self, request: SearchRequest, libraries: Sequence[_Library]
    ) -> tuple[dict[str, Any], bool]:
        """The full query (visibility, filters, text) and whether it scores."""
        filters: list[dict[str, Any]] = [_visibility_filter(request.scope)]
        filters.extend(_filter_clause(clause) for clause in request.filters)
        bool_query: dict[str, Any] = {
            "filter": [f for f in filters if f],
            "must_not": [{"term": {"deleted": True}}],
        }
        text = request.text
        scored = bool(text and (text.groups or text.excluded))
        if text is not None and scored:
            per_library = [_text_query(text, library) for library in libraries]
            bool_query["must"] = [
                per_library[0]
                if len(per_library) == 1
                else {"bool": {"should": per_library, "minimum_should_match": 1}}
            ]
        return {"bool": bool_query}, scored

    def _sort(
        self, request: SearchRequest, libraries: Sequence[_Library], scored: bool
    ) -> list[dict[str, Any]]:
        keys: list[tuple[str, bool]] = [(k.field, k.descending) for k in request.sort]
        if not keys:
            if scored:
                keys = [("relevance", True)]
            else:
                keys = next((list(lib.default_sort) for lib in libraries if lib.default_sort), [])
        sort: list[dict[str, Any]] = []
        for name, descending in keys:
            if name == "relevance":
                if scored:
                    sort.append({"_score": {"order": "desc"}})
                continue
            kind = next((lib.kinds[name] for lib in libraries if name in lib.kinds), None)
            sortable = any(name in lib.sortable for lib in libraries)
            es_type = _ES_TYPES.get(FieldKind(kind), "keyword") if kind else "keyword"
            sort.append(
                {
                    f"{'s' if sortable else 'v'}_{name}": {
                        "order": "desc" if descending else "asc",
                        "missing": "_last",
                        "unmapped_type": es_type,
                    }
                }
            )
        sort.append({"id": {"order": "asc"}})
        sort.append({"library": {"order": "asc"}})
        return sort

    async def search_params(self, request: SearchRequest) -> dict[str, Any] | None:
        """The keyword arguments of the `_search` call that answers `request` (None: no index).

        Benchmarks send the same body straight to Elasticsearch to measure the gateway's own
        cost, so this is the one place the search call is built.
        """
        if request.offset < 0 or request.size < 0:
            raise ValueError("offset and size must not be negative")
        if request.search_after is None and request.offset + request.size > MAX_RESULT_WINDOW:
            raise ValueError(
                f"offset + size may not exceed {MAX_RESULT_WINDOW}; page with search_after"
            )
        libraries = await self._libraries_of(request.libraries)
        if not libraries:
            return None
        query, scored = self._query(request, libraries)
        sort = self._sort(request, libraries, scored)
        aggs = {
            f"facet_{i}": {
                "terms": {
                    "field": f"v_{facet.name}",
                    "size": max(1, request.facet_size),
                    "order": [{"_count": "desc"}, {"_key": "asc"}],
                }
            }
            for i, facet in enumerate(request.facets)
        }
        params: dict[str, Any] = {
            "index": ",".join(self.alias(lib.name) for lib in libraries),
            "query": query,
            "sort": sort,
            "size": request.size,
            "track_total_hits": True,
            "source_includes": ["library", "id", "source"],
            "ignore_unavailable": True,
            "allow_no_indices": True,
        }
        if request.search_after is not None:
            if len(request.search_after) != len(sort):
                raise ValueError("search_after does not fit this sort; start paging again")
            params["search_after"] = list(request.search_after)
        else:
            params["from_"] = request.offset
        if scored:
            params["track_scores"] = True
            if len(libraries) > 1:
                params["search_type"] = "dfs_query_then_fetch"
        if aggs:
            params["aggs"] = aggs
        return params

    async def search(self, request: SearchRequest) -> SearchResult:
        params = await self.search_params(request)
        if params is None:
            return SearchResult(total=0, hits=[], facets={f.name: [] for f in request.facets})
        scored = bool(params.get("track_scores"))
        response = await self._call("search", lambda: self._client.search(**params))
        body = response.body
        hits = [
            Hit(
                library=hit["_source"].get("library", ""),
                id=hit["_source"].get("id", hit["_id"]),
                score=float(hit["_score"]) if scored and hit.get("_score") is not None else None,
                source=hit["_source"].get("source") or {},
                sort_values=tuple(hit.get("sort", ())),
            )
            for hit in body["hits"]["hits"]
        ]
        facets: dict[str, list[FacetBucket]] = {}
        for i, facet in enumerate(request.facets):
            buckets = body.get("aggregations", {}).get(f"facet_{i}", {}).get("buckets", [])
            facets[facet.name] = [
                FacetBucket(
                    value=_from_bucket_key(str(facet.kind), b["key"], b.get("key_as_string")),
                    count=int(b["doc_count"]),
                )
                for b in buckets
            ]
        return SearchResult(total=int(body["hits"]["total"]["value"]), hits=hits, facets=facets)

    async def stats(
        self, request: SearchRequest, group_by: Sequence[FilterField]
    ) -> list[StatsBucket]:
        if not group_by:
            raise ValueError("stats needs at least one group-by field")
        libraries = await self._libraries_of(request.libraries)
        if not libraries:
            return []
        query, _scored = self._query(request, libraries)
        sources = [
            {f"g{i}": {"terms": {"field": f"v_{field.name}"}}} for i, field in enumerate(group_by)
        ]
        index = ",".join(self.alias(lib.name) for lib in libraries)
        buckets: list[StatsBucket] = []
        after: dict[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {"size": PAGE, "sources": sources}
            if after is not None:
                composite["after"] = after
            response = await self._call(
                "compute statistics",
                partial(
                    self._client.search,
                    index=index,
                    query=query,
                    size=0,
                    aggs={"groups": {"composite": composite}},
                    ignore_unavailable=True,
                    allow_no_indices=True,
                ),
            )
            groups = response.body.get("aggregations", {}).get("groups", {})
            for bucket in groups.get("buckets", []):
                key = tuple(
                    _from_bucket_key(str(field.kind), bucket["key"][f"g{i}"])
                    for i, field in enumerate(group_by)
                )
                buckets.append(StatsBucket(key=key, count=int(bucket["doc_count"])))
            after = groups.get("after_key")
            if not groups.get("buckets") or after is None:
                return buckets

    async def suggest(
        self, prefix: str, libraries: Sequence[str], scope: VisibilityScope, limit: int
    ) -> list[Suggestion]:
        """Autocomplete by keyword prefix, ranked exact key, shorter key, label, id.

        Keys are stored twice: as `suggest` and as `suggest_sized` = "<length:03d>|<key>".
        A prefix query on `suggest_sized` for each possible key length L finds the documents
        having a key of length L that starts with the prefix; `dis_max` over those clauses,
        each scoring a constant that falls with L, scores a document by its shortest matching
        key, and an exact key is the shortest possible match. Keys longer than
        SUGGEST_RANKED_LENGTH match through `suggest` with the lowest score. We chose this over
        a `completion` field because completion suggesters cannot apply the visibility filter
        as a query (only through contexts) nor skip tombstones by query, while here the same
        visibility filter as every other read applies and ranking ties break by label exactly.
        """
        normalised = _normalise_prefix(prefix)
        found = await self._libraries_of(libraries)
        if not normalised or not found or limit <= 0:
            return []
        visibility = _visibility_filter(scope)
        clauses: list[dict[str, Any]] = [
            {
                "constant_score": {
                    "filter": {"prefix": {"suggest_sized": f"{length:03d}|{normalised}"}},
                    "boost": float(SUGGEST_RANKED_LENGTH + 2 - length),
                }
            }
            for length in range(len(normalised), SUGGEST_RANKED_LENGTH + 1)
        ]
        clauses.append(
            {"constant_score": {"filter": {"prefix": {"suggest": normalised}}, "boost": 1.0}}
        )
        query = {
            "bool": {
                "must": [{"dis_max": {"queries": clauses, "tie_breaker": 0.0}}],
                "filter": [f for f in (visibility,) if f],
                "must_not": [{"term": {"deleted": True}}],
            }
        }
        response = await self._call(
            "suggest",
            lambda: self._client.search(
                index=",".join(self.alias(lib.name) for lib in found),
                query=query,
                sort=[{"_score": "desc"}, {"label": "asc"}, {"id": "asc"}],
                track_scores=True,
                size=limit,
                source_includes=["library", "id", "label", "suggest_hint"],
                ignore_unavailable=True,
                allow_no_indices=True,
            ),
        )
        return [
            Suggestion(
                library=hit["_source"].get("library", ""),
                id=hit["_source"].get("id", hit["_id"]),
                label=hit["_source"].get("label", ""),
                hint=hit["_source"].get("suggest_hint"),
                score=float(hit.get("_score") or 0.0),
            )
            for hit in response.body["hits"]["hits"]
        ]

    # ------------------------------------------------------------------ lifecycle

    async def ping(self) -> None:
        response = await self._call("answer", lambda: self._client.cluster.health())
        if response.body.get("status") == "red":
            raise IndexUnavailable("Elasticsearch cluster health is red")

    async def close(self) -> None:
        await self._client.close()


# ---------------------------------------------------------------------- query pieces


def _now_ms() -> int:
    return int(time.time() * 1000)


def _error_type(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("type", "error"))
    return "error"


def _visibility_filter(scope: VisibilityScope) -> dict[str, Any]:
    """`visibility IN levels OR owner_org = own_org`; nothing for a see-all scope."""
    if scope.levels is None:
        return {}
    should: list[dict[str, Any]] = []
    if scope.levels:
        should.append({"terms": {"visibility": sorted(str(level) for level in scope.levels)}})
    if scope.own_org is not None:
        should.append({"term": {"owner_org": scope.own_org}})
    if not should:
        return {"match_none": {}}
    return {"bool": {"should": should, "minimum_should_match": 1}}


def _filter_clause(clause: FilterClause) -> dict[str, Any]:
    """Values ORed with the inclusive range; `negate` inverts; empty means "has a value"."""
    field = f"v_{clause.field.name}"
    options: list[dict[str, Any]] = []
    if clause.values:
        options.append({"terms": {field: [_es_value(v) for v in clause.values]}})
    if clause.lower is not None or clause.upper is not None:
        bounds: dict[str, Any] = {}
        if clause.lower is not None:
            bounds["gte"] = _es_value(clause.lower)
        if clause.upper is not None:
            bounds["lte"] = _es_value(clause.upper)
        options.append({"range": {field: bounds}})
    if not options:
        options.append({"exists": {"field": field}})
    positive = (
        options[0]
        if len(options) == 1
        else {"bool": {"should": options, "minimum_should_match": 1}}
    )
    if clause.negate:
        return {"bool": {"must_not": [positive]}}
    return positive


def _token_query(token: str, library: _Library) -> dict[str, Any]:
    """One token in any of the library's text fields, scored by the sum of weighted fields."""
    should = [
        {"match": {f"tok_{name}": {"query": token, "operator": "and", "boost": boost}}}
        for name, boost in library.text_fields
    ]
    return {"bool": {"should": should, "minimum_should_match": 1}}


def _alternative_query(terms: Terms, library: _Library) -> dict[str, Any] | None:
    tokens = [t for t in terms.tokens if t]
    if not tokens:
        return None
    if not library.text_fields:
        return {"match_none": {}}
    if terms.phrase and len(tokens) > 1:
        phrase = " ".join(tokens)
        should = [
            {"match_phrase": {f"tok_{name}": {"query": phrase, "boost": boost * terms.boost}}}
            for name, boost in library.text_fields
        ]
        return {"bool": {"should": should, "minimum_should_match": 1}}
    parts = [_token_query(token, library) for token in tokens]
    if len(parts) == 1:
        return parts[0]
    if terms.needed < len(parts):
        # Each token scores in every field it is in; a word needs `needed` of its tokens.
        return {"bool": {"should": parts, "minimum_should_match": terms.needed}}
    return {"bool": {"must": parts}}


def _text_query(text: TextQuery, library: _Library) -> dict[str, Any]:
    must: list[dict[str, Any]] = []
    for group in text.groups:
        alternatives = [q for q in (_alternative_query(a, library) for a in group) if q]
        if not alternatives:
            continue
        must.append(
            alternatives[0]
            if len(alternatives) == 1
            else {"bool": {"should": alternatives, "minimum_should_match": 1}}
        )
    must_not = [q for q in (_alternative_query(a, library) for a in text.excluded) if q]
    must_not = [q for q in must_not if "match_none" not in q]
    query: dict[str, Any] = {"filter": [{"term": {"library": library.name}}]}
    if must:
        query["must"] = must
        if text.exact and library.exact_fields:
            # Ranking only (the filter keeps `should` optional): a whole value equal to the
            # query or one of its words adds the field's bonus once.
            query["should"] = [
                {"terms": {f"exact_{name}": list(text.exact), "boost": boost}}
                for name, boost in library.exact_fields
            ]
    if must_not:
        query["must_not"] = must_not
    return {"bool": query}
