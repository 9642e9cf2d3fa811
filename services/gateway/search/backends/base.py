"""The interface both search backends implement; one contract suite tests both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.gateway.search.model import FilterField
from services.gateway.search.model import IndexDocument
from services.gateway.search.model import LibrarySchema
from services.gateway.search.model import SearchRequest
from services.gateway.search.model import SearchResult
from services.gateway.search.model import StatsBucket
from services.gateway.search.model import Suggestion
from services.kernel.visibility import VisibilityScope


class IndexUnavailable(Exception):
    """The index cannot be reached or refused the write; the caller retries later."""


class SearchBackend(Protocol):
    """Storage and querying of IndexDocuments.

    Writes use external versioning: a document or tombstone is applied only if its version is
    higher than what is stored for that (library, id), so re-delivered and out-of-order
    changes are harmless. Tombstones are remembered, so a late older upsert cannot resurrect
    a deleted record. Every read applies the VisibilityScope (hits, counts, facets, stats,
    suggestions).
    """

    async def ensure_library(self, schema: LibrarySchema) -> None:
        """Create (or update) the storage for a library; idempotent."""

    async def drop_library(self, name: str) -> None:
        """Remove a library's storage (a deleted special database)."""

    async def upsert(self, documents: Sequence[IndexDocument]) -> None:
        """Store documents whose version is newer than the stored one; others are ignored."""

    async def delete(self, library: str, record_id: str, version: int) -> None:
        """Remove a record if `version` is newer than the stored one; remember the tombstone."""

    async def sources(self, library: str, ids: Sequence[str]) -> dict[str, dict]:
        """The stored `source` of each id found (no visibility: for the indexer's joins)."""

    async def referencing(self, library: str, field: str, value: str) -> list[str]:
        """IDs of documents whose `values[field]` contains `value` (re-index fan-out)."""

    async def search(self, request: SearchRequest) -> SearchResult:
        """Hits, total and facets for one or several libraries, visibility applied."""

    async def suggest(
        self, prefix: str, libraries: Sequence[str], scope: VisibilityScope, limit: int
    ) -> list[Suggestion]:
        """Documents whose suggest keys start with the normalised `prefix`, best first."""

    async def stats(
        self, request: SearchRequest, group_by: Sequence[FilterField]
    ) -> list[StatsBucket]:
        """Counts per value (or value pair) of the group-by fields over the matching records."""

    async def ping(self) -> None:
        """Raise IndexUnavailable when the index cannot answer."""

    async def close(self) -> None: ...
