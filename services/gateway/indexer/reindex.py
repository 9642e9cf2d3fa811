"""Rebuilding a library's index, e.g. after the analysis pipeline or a mapping changed.

Documents are re-analysed from the sources stored in the index (joins resolved afresh). On
Elasticsearch a new index is built behind the alias and swapped in atomically, so searches
never see a half-built index; the embedded index is rewritten in place, one batch at a time.
To re-read everything from the services instead, reset the indexer's cursors
(`zhihui reindex --from-feeds`): external versioning makes the replay idempotent.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.gateway.indexer.documents import index_version
from services.gateway.search.components import SearchComponents
from services.gateway.search.libraries import LIBRARY_SCHEMAS
from services.gateway.search.model import IndexDocument
from services.gateway.search.model import LibrarySchema
from services.gateway.search.model import SearchRequest
from services.gateway.search.model import SortKey
from services.kernel.errors import BadRequest
from services.kernel.errors import FieldError
from services.kernel.visibility import VisibilityScope

PAGE = 500


@dataclass(frozen=True, slots=True)
class ReindexReport:
    library: str
    documents: int
    took_ms: int
    swapped: bool


async def _documents(
    components: SearchComponents, schema: LibrarySchema
) -> AsyncIterator[IndexDocument]:
    after = None
    while True:
        page = await components.backend.search(
            SearchRequest(
                libraries=(schema.name,),
                scope=VisibilityScope(None),
                sort=(SortKey("updated_at", False),),
                size=PAGE,
                search_after=after,
            )
        )
        for hit in page.hits:
            document = await components.sink.build(schema.name, dict(hit.source))
            document.version = index_version(document.version)
            yield document
        if len(page.hits) < PAGE:
            return
        after = page.hits[-1].sort_values


async def reindex_library(components: SearchComponents, library: str) -> ReindexReport:
    """Re-analyse every stored document of `library` into a fresh index."""
    schema = LIBRARY_SCHEMAS.get(library)
    if schema is None:
        raise BadRequest(
            f"library: '{library[:40]}' cannot be re-indexed; choose {', '.join(LIBRARY_SCHEMAS)}",
            errors=[FieldError(("query", "library"), "unknown library")],
        )
    await components.ensure_ready()
    started = time.perf_counter()
    rebuild = getattr(components.backend, "rebuild_library", None)
    if rebuild is not None:
        count = await rebuild(schema, _documents(components, schema))
        swapped = True
    else:
        count, batch = 0, []
        async for document in _documents(components, schema):
            batch.append(document)
            if len(batch) >= PAGE:
                await components.backend.upsert(batch)
                count, batch = count + len(batch), []
        if batch:
            await components.backend.upsert(batch)
            count += len(batch)
        swapped = False
    return ReindexReport(library, count, round((time.perf_counter() - started) * 1000), swapped)
