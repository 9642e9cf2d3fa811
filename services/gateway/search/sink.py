"""The indexer's sink: change-feed batches → the search backend, with joins and rename fan-out."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from services.gateway.search.analysis import Analyzer
from services.gateway.search.backends.base import SearchBackend
from services.gateway.search.documents import (
    dataset_document,
    dataset_record_document,
    expert_document,
    index_version,
    institution_document,
    outcome_document,
)
from services.gateway.search.fields import LIBRARY_SCHEMAS, dataset_library, dataset_schema
from services.gateway.search.model import IndexDocument, LibrarySchema, SearchRequest
from services.kernel.changefeed import ChangeOut
from services.kernel.visibility import VisibilityScope

logger = logging.getLogger("zhihui.search.sink")

DATASETS = "datasets"
# Which libraries mention another library's records, by which filter field (fan-out on rename).
REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "institutions": (("experts", "institution"), ("outcomes", "institution")),
    "experts": (("outcomes", "author"),),
}
_ENTITY_LIBRARY = {"institution": "institutions", "expert": "experts", "outcome": "outcomes"}


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

    async def apply(self, feed: str, changes: Sequence[ChangeOut]) -> None:
        if self.ready is not None:
            await self.ready()
        pending: list[IndexDocument] = []
        renamed: list[tuple[str, str]] = []
        for change in changes:
            if change.op == "delete":
                await self._flush(pending)
                await self._delete(change)
                continue
            document = await self._build(change)
            if document is None:
                continue
            if document.library in REFERENCES and await self._label_changed(document):
                renamed.append((document.library, document.id))
            pending.append(document)
        await self._flush(pending)
        for library, record_id in renamed:
            await self.refresh_referencing(library, record_id)

    async def _flush(self, pending: list[IndexDocument]) -> None:
        if pending:
            for document in pending:
                document.version = index_version(document.version)
            await self.backend.upsert(list(pending))
            pending.clear()

    async def _build(self, change: ChangeOut) -> IndexDocument | None:
        source = dict(change.document or {})
        source.setdefault("version", change.version)
        if change.entity == "dataset":
            schema = self.catalogue.register(source)
            await self.backend.ensure_library(schema)
            return dataset_document(source)
        if change.entity == "dataset_record":
            schema = await self.catalogue.dataset(source["dataset"], source.get("dataset_id"))
            if schema is None:
                logger.warning(
                    "record %s of unknown dataset %s", change.record_id, source["dataset"]
                )
                return None
            return dataset_record_document(source, schema, self.analyzer)
        return await self.build(_ENTITY_LIBRARY[change.entity], source)

    async def build(self, library: str, source: dict[str, Any]) -> IndexDocument:
        """A library record's document with its joins resolved from the index."""
        if library == "institutions":
            # The library's own names join the segmentation dictionary (DESIGN.md).
            self.analyzer.add_terms(
                n for n in [source.get("name"), *source.get("aliases", [])] if n
            )
            return institution_document(source, self.analyzer)
        if library == "experts":
            institutions = await self.backend.sources(
                "institutions", source.get("institution_ids", [])
            )
            return expert_document(source, institutions, self.analyzer)
        experts = await self.backend.sources("experts", source.get("author_expert_ids", []))
        institutions = await self.backend.sources("institutions", source.get("institution_ids", []))
        return outcome_document(source, experts, institutions, self.analyzer)

    async def _label_changed(self, document: IndexDocument) -> bool:
        stored = (await self.backend.sources(document.library, [document.id])).get(document.id)
        if stored is None:
            return False
        keys = ("name", "aliases", "acronyms")
        return any(stored.get(k) != document.source.get(k) for k in keys)

    async def refresh_referencing(self, library: str, record_id: str) -> int:
        """Re-build the documents that show this record's name (a rename reaches them)."""
        refreshed = 0
        for referring, field in REFERENCES.get(library, ()):
            ids = await self.backend.referencing(referring, field, record_id)
            sources = await self.backend.sources(referring, ids)
            documents = [await self.build(referring, dict(s)) for s in sources.values()]
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
