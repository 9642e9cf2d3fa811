"""The indexer's sink: change-feed batches → the search backend, with joins and rename fan-out."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

from services.gateway.indexer.documents import dataset_document
from services.gateway.indexer.documents import dataset_record_document
from services.gateway.indexer.documents import index_version
from services.gateway.search.analysis import Analyzer
from services.gateway.search.backends.base import SearchBackend
from services.gateway.search.fields import dataset_library
from services.gateway.search.fields import dataset_schema
from services.gateway.search.libraries import LIBRARY_SCHEMAS
from services.gateway.search.libraries import LIBRARY_SEARCHES
from services.gateway.search.model import IndexDocument
from services.gateway.search.model import LibrarySchema
from services.gateway.search.model import SearchRequest
from services.kernel.changefeed import ChangeOut
from services.kernel.library import library_named
from services.kernel.library import record_libraries
from services.kernel.visibility import VisibilityScope

logger = logging.getLogger("zhihui.search.sink")

DATASETS = "datasets"


def _name_references() -> dict[str, tuple[tuple[str, str], ...]]:
    """Which libraries copy another library's names into their documents, by which filter
    field: a rename fans out to them (from the declared links that join names)."""
    references: dict[str, list[tuple[str, str]]] = {}
    for library in record_libraries():
        for link in library.links:
            if link.joins_name:
                references.setdefault(link.target, []).append((library.name, link.filter_field))
    return {target: tuple(referring) for target, referring in references.items()}


REFERENCES = _name_references()
_ENTITY_LIBRARY = {library.entity: library.name for library in record_libraries()}


class UnknownLibrary(LookupError):
    """A change names a library the search side has no documents for (a half-declared one)."""


def _ids(value: Any) -> list[str]:
    """The IDs a link's document key holds: a list of them, one, or none."""
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


class SchemaCatalogue:
    """Search schemas: the fixed libraries, and special databases as their definitions arrive."""

    def __init__(self, backend: SearchBackend) -> None:
        self.backend = backend
        self._datasets: dict[str, LibrarySchema] = {}  # by slug
        self._definitions: dict[str, dict[str, Any]] = {}

    async def setup(self) -> None:
        """Create the fixed libraries and reload the special databases known to the index."""
        for schema in LIBRARY_SCHEMAS.values():
            await self.backend.ensure_library(schema)
        await self.backend.ensure_library(
            LibrarySchema(name=DATASETS, label="特色数据库", fields={}, text_fields=())
        )
        known = await self.backend.search(
            SearchRequest(libraries=(DATASETS,), scope=VisibilityScope(None), size=10_000)
        )
        for hit in known.hits:
            await self.backend.ensure_library(self.register(hit.source))

    def register(self, definition: dict[str, Any]) -> LibrarySchema:
        schema = dataset_schema(definition)
        self._datasets[definition["slug"]] = schema
        self._definitions[definition["slug"]] = definition
        return schema

    def forget(self, slug: str) -> None:
        self._datasets.pop(slug, None)
        self._definitions.pop(slug, None)

    def definition(self, slug: str) -> dict[str, Any] | None:
        """The indexed definition of a special database (its visibility and owner)."""
        return self._definitions.get(slug)

    async def dataset(self, slug: str, dataset_id: str | None = None) -> LibrarySchema | None:
        """A special database's schema; after a restart it is rebuilt from the index."""
        if slug in self._datasets:
            return self._datasets[slug]
        if dataset_id:
            found = await self.backend.sources(DATASETS, [dataset_id])
            if dataset_id in found:
                return self.register(found[dataset_id])
        return None

    def dataset_libraries(self) -> list[str]:
        return [dataset_library(slug) for slug in self._datasets]


# Bounds the memory of references still waiting for their record (see SearchSink._awaiting).
MAX_AWAITED = 100_000
Key = tuple[str, str]  # (library, record id)


class _Sources:
    """The stored sources one batch needs, fetched with one request per library."""

    def __init__(self, backend: SearchBackend) -> None:
        self.backend = backend
        self._known: dict[Key, dict[str, Any] | None] = {}

    async def prefetch(self, library: str, ids: Sequence[str]) -> None:
        missing = list(dict.fromkeys(i for i in ids if (library, i) not in self._known))
        if missing:
            found = await self.backend.sources(library, missing)
            for record_id in missing:
                self._known[(library, record_id)] = found.get(record_id)

    async def get(self, library: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        await self.prefetch(library, ids)
        return {i: v for i in ids if (v := self._known.get((library, i))) is not None}

    def stored(self, library: str, record_id: str) -> dict[str, Any] | None:
        """The prefetched source of one record (None when the index does not have it)."""
        return self._known.get((library, record_id))

    def forget(self, library: str, record_id: str) -> None:
        self._known.pop((library, record_id), None)


class SearchSink:
    """Applies one feed batch: builds documents (joining names), writes, fans out renames."""

    def __init__(
        self,
        backend: SearchBackend,
        analyzer: Analyzer,
        catalogue: SchemaCatalogue,
        ready: Callable[[], Awaitable[None]] | None = None,
    ):
        self.backend = backend
        self.analyzer = analyzer
        self.catalogue = catalogue
        # Called before each batch: makes sure the libraries exist (the index may have been down).
        self.ready = ready
        # Feeds are indexed independently, so an expert can arrive before its institution.
        # Such references wait here; when the record arrives, the waiting documents are
        # re-built with its name. (In memory: after a restart `zhihui reindex` repairs.)
        self._awaiting: dict[Key, set[Key]] = {}

    async def apply(self, feed: str, changes: Sequence[ChangeOut]) -> None:
        if self.ready is not None:
            await self.ready()
        cache = _Sources(self.backend)
        await self._prefetch(cache, changes)
        pending: list[IndexDocument] = []
        fan_out: list[Key] = []
        for change in changes:
            if change.op == "delete":
                await self._flush(pending)
                await self._delete(change)
                continue
            document = await self._build(change, cache)
            if document is None:
                continue
            key = (document.library, document.id)
            renamed = document.library in REFERENCES and self._label_changed(document, cache)
            if renamed or key in self._awaiting:
                fan_out.append(key)
            pending.append(document)
            cache.forget(*key)
        await self._flush(pending)
        for library, record_id in dict.fromkeys(fan_out):
            await self.refresh_referencing(library, record_id)

    async def _prefetch(self, cache: _Sources, changes: Sequence[ChangeOut]) -> None:
        """One request per library for the joins and stored versions of the whole batch."""
        wanted: dict[str, list[str]] = {}
        for change in changes:
            document = change.document or {}
            library = _ENTITY_LIBRARY.get(change.entity)
            if change.op != "upsert" or library is None:
                continue
            if library in REFERENCES:
                wanted.setdefault(library, []).append(change.record_id)
            for link in library_named(library).links:
                if link.joins_name:
                    wanted.setdefault(link.target, []).extend(_ids(document.get(link.document_key)))
        for library, ids in wanted.items():
            await cache.prefetch(library, ids)

    async def _flush(self, pending: list[IndexDocument]) -> None:
        if pending:
            for document in pending:
                document.version = index_version(document.version)
            await self.backend.upsert(list(pending))
            pending.clear()

    async def _build(self, change: ChangeOut, cache: _Sources) -> IndexDocument | None:
        source = dict(change.document or {})
        source.setdefault("version", change.version)
        if change.entity == "dataset":
            schema = self.catalogue.register(source)
            await self.backend.ensure_library(schema)
            return dataset_document(source)
        if change.entity == "dataset_record":
            known = await self.catalogue.dataset(source["dataset"], source.get("dataset_id"))
            if known is None:
                logger.warning(
                    "record %s of unknown dataset %s", change.record_id, source["dataset"]
                )
                return None
            return dataset_record_document(source, known, self.analyzer)
        return await self.build(_ENTITY_LIBRARY[change.entity], source, cache)

    async def build(
        self, library: str, source: dict[str, Any], cache: _Sources | None = None
    ) -> IndexDocument:
        """A library record's document with its joins resolved from the index."""
        search = LIBRARY_SEARCHES.get(library)
        if search is None:
            raise UnknownLibrary(f"no search documents are declared for library {library!r}")
        cache = cache or _Sources(self.backend)
        joins: dict[str, dict[str, dict[str, Any]]] = {}
        for link in library_named(library).links:
            if link.joins_name:
                ids = _ids(source.get(link.document_key))
                joins[link.target] = await cache.get(link.target, ids)
                self._await_missing(library, source["id"], link.target, ids, joins[link.target])
        return search.build(source, joins, self.analyzer)

    def _await_missing(
        self,
        library: str,
        record_id: str,
        referenced: str,
        ids: Sequence[str],
        found: dict[str, dict[str, Any]],
    ) -> None:
        for missing in (i for i in ids if i not in found):
            if len(self._awaiting) < MAX_AWAITED:
                self._awaiting.setdefault((referenced, missing), set()).add((library, record_id))

    @staticmethod
    def _label_changed(document: IndexDocument, cache: _Sources) -> bool:
        stored = cache.stored(document.library, document.id)
        if stored is None:
            return False
        if stored.get("version") == document.source.get("version"):
            # Re-delivered: an earlier attempt at this batch wrote the document and failed
            # before its fan-out finished (the index went down), so the names compare equal
            # now. Fan out again; it is idempotent.
            return True
        # What referencing documents copy: names, and an institution's province (an expert's
        # `province` filter is its primary institution's).
        keys = ("name", "aliases", "acronyms", "province")
        return any(stored.get(k) != document.source.get(k) for k in keys)

    async def refresh_referencing(self, library: str, record_id: str) -> int:
        """Re-build the documents that show this record's name (a rename reaches them)."""
        waiting = self._awaiting.pop((library, record_id), set())
        refreshed = 0
        for referring, field in REFERENCES.get(library, ()):
            ids = set(await self.backend.referencing(referring, field, record_id))
            ids |= {i for lib, i in waiting if lib == referring}
            sources = await self.backend.sources(referring, sorted(ids))
            cache = _Sources(self.backend)
            documents = [await self.build(referring, dict(s), cache) for s in sources.values()]
            await self._flush(documents)
            refreshed += len(documents)
        return refreshed

    async def _delete(self, change: ChangeOut) -> None:
        version = index_version(change.version)
        if change.entity in _ENTITY_LIBRARY:
            await self.backend.delete(_ENTITY_LIBRARY[change.entity], change.record_id, version)
        elif change.entity == "dataset":
            found = await self.backend.sources(DATASETS, [change.record_id])
            await self.backend.delete(DATASETS, change.record_id, version)
            if change.record_id in found:
                slug = found[change.record_id]["slug"]
                self.catalogue.forget(slug)
                await self.backend.drop_library(dataset_library(slug))
        else:
            # A record tombstone carries no document; find the special database holding it.
            for library in self.catalogue.dataset_libraries():
                if await self.backend.sources(library, [change.record_id]):
                    await self.backend.delete(library, change.record_id, version)
                    return
