"""Fixtures of the end-to-end search tests: the gateway in front of real services and the real
index (tests/gateway/conftest.py), callers of each kind, and the real-data corpus."""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable

import httpx
import pytest

from tests.gateway.conftest import bearer
from tests.gateway.search.api.corpus import Corpus
from tests.gateway.search.api.corpus import load


@pytest.fixture(scope="module")
async def callers(make_key: Callable[..., Awaitable[str]]) -> dict[str, dict[str, str]]:
    return {
        "anonymous": {},
        "reader": bearer(await make_key("reader", "cast")),
        "reader_other": bearer(await make_key("reader", "csae")),
        "admin": bearer(await make_key("admin")),
    }


@pytest.fixture(scope="module")
async def corpus(
    gateway: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    index_now: Callable[[], Awaitable[int]],
) -> Corpus:
    loaded = await load(gateway, callers["admin"])
    loaded.headers = callers
    await index_now()
    return loaded
