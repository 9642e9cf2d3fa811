"""Both search backends behind one fixture: the same contract runs against each.

`elasticsearch` uses the real server from ZHIHUI_TEST_ELASTICSEARCH_URL with a unique index
prefix per module; `embedded` uses a fresh SQLite FTS5 file.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.gateway.search.backends.base import SearchBackend
from tests.conftest import required_env

SEARCH_BACKENDS = ("embedded", "elasticsearch")


@pytest.fixture(params=SEARCH_BACKENDS, scope="module")
async def search_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SearchBackend]:
    if request.param == "elasticsearch":
        from services.gateway.search.backends.elasticsearch import ElasticsearchBackend

        backend: SearchBackend = ElasticsearchBackend(
            required_env("ZHIHUI_TEST_ELASTICSEARCH_URL"),
            index_prefix=f"zhihui_test_{secrets.token_hex(4)}",
            refresh_on_write=True,
        )
    else:
        from services.gateway.search.backends.embedded import EmbeddedBackend

        path: Path = tmp_path_factory.mktemp("search") / "index.sqlite"
        backend = EmbeddedBackend(path)
    try:
        yield backend
    finally:
        await backend.close()
