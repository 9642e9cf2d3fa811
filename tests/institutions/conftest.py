"""An institutions service app on a fresh database of the module's backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.institutions.config import InstitutionsSettings
from services.institutions.main import create_app
from services.kernel.db import Database
from services.registry import service_named
from tests.conftest import asgi_client
from tests.helpers import stand_in_referrers


@pytest.fixture(scope="module")
async def institutions_db(database_factory) -> Database:  # type: ignore[no-untyped-def]
    return await database_factory(service_named("institutions"))


@pytest.fixture(scope="module")
async def client(institutions_db: Database, platform_settings) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    app = create_app(
        InstitutionsSettings(), platform_settings, institutions_db, stand_in_referrers()
    )
    async with asgi_client(app) as http:
        yield http
