"""Builds the search components from settings: backend, analyser, catalogue, sink, service.

Elasticsearch when ZHIHUI_ELASTICSEARCH_URL is set; otherwise the embedded SQLite FTS5 index
under ZHIHUI_DATA_DIR (the zero-setup default).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from services.gateway.indexer.sink import SchemaCatalogue
from services.gateway.indexer.sink import SearchSink
from services.gateway.search.analysis import Analyzer
from services.gateway.search.analysis import get_analyzer
from services.gateway.search.backends.base import SearchBackend
from services.gateway.search.backends.elasticsearch import ElasticsearchBackend
from services.gateway.search.backends.embedded import EmbeddedBackend
from services.gateway.search.service import SearchService
from services.kernel.settings import PlatformSettings

logger = logging.getLogger("zhihui.search")

EMBEDDED_FILE = "search.sqlite"


def create_backend(platform: PlatformSettings, *, data_dir: Path | None = None) -> SearchBackend:
    if platform.elasticsearch_url:
        return ElasticsearchBackend(
            platform.elasticsearch_url, index_prefix=platform.elasticsearch_index_prefix
        )
    return EmbeddedBackend((data_dir or platform.data_dir).resolve() / EMBEDDED_FILE)


@dataclass
class SearchComponents:
    backend: SearchBackend
    analyzer: Analyzer
    catalogue: SchemaCatalogue
    sink: SearchSink
    service: SearchService
    _ready: bool = False
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def ensure_ready(self) -> None:
        """Create the libraries in the index once; retried on the next call if it was down."""
        if self._ready:
            return
        async with self._lock:
            if not self._ready:
                await self.catalogue.setup()
                self._ready = True

    async def close(self) -> None:
        await self.backend.close()


def create_search(backend: SearchBackend, analyzer: Analyzer | None = None) -> SearchComponents:
    analyzer = analyzer or get_analyzer()
    catalogue = SchemaCatalogue(backend)
    sink = SearchSink(backend, analyzer, catalogue)
    components = SearchComponents(
        backend=backend,
        analyzer=analyzer,
        catalogue=catalogue,
        sink=sink,
        service=SearchService(backend, analyzer),
    )
    sink.ready = components.ensure_ready
    return components
