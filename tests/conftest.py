"""Fixtures: real PostgreSQL and SQLite databases per service, and ASGI clients for the apps.

Servers come from `./dev test` (ZHIHUI_TEST_POSTGRES_URL, ZHIHUI_TEST_ELASTICSEARCH_URL). A
test that needs a server fails when it is missing; it never skips.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from services.cli import migrations
from services.kernel.db import Database
from services.kernel.settings import Environment
from services.kernel.settings import PlatformSettings
from services.registry import ServiceSpec

BACKENDS = ("sqlite", "postgresql")
TEST_INTERNAL_TOKEN = "test-internal-token-" + "x" * 16


def required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: this test talks to a real server. Run the suite with "
            "`./dev test`, which starts PostgreSQL and Elasticsearch and sets it.",
            pytrace=False,
        )
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        help="also run the minutes-long reliability runs (marked `long`)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`long` tests are deselected (not skipped) unless --long: CI runs the fast part."""
    if config.getoption("--long"):
        return
    kept = [item for item in items if item.get_closest_marker("long") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return required_env("ZHIHUI_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def elasticsearch_url() -> str:
    return required_env("ZHIHUI_TEST_ELASTICSEARCH_URL")


@pytest.fixture(scope="session")
def platform_settings() -> PlatformSettings:
    return PlatformSettings(environment=Environment.TEST, internal_token=TEST_INTERNAL_TOKEN)


async def make_database(
    backend: str, spec: ServiceSpec, tmp_path: Path, postgres_url: str | None
) -> Database:
    """A fresh, migrated database for one service: its own schema or its own SQLite file."""
    if backend == "postgresql":
        assert postgres_url is not None
        schema = f"t{secrets.token_hex(4)}_{spec.name}"
        database = Database(postgres_url, schema=schema, pool_size=20)
    else:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / spec.name}.sqlite")
    await migrations.upgrade(database, spec)
    return database


async def drop_database(database: Database) -> None:
    if database.is_postgres:
        async with database.engine.connect() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{database.schema}" CASCADE'))
            await conn.commit()
    await database.dispose()


@pytest.fixture(params=BACKENDS, scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("db")


def _pg_url_or_none(backend: str) -> str | None:
    return required_env("ZHIHUI_TEST_POSTGRES_URL") if backend == "postgresql" else None


@pytest.fixture(scope="module")
async def database_factory(backend: str, module_tmp: Path) -> AsyncIterator[object]:
    """Creates migrated databases on the module's backend and drops them afterwards."""
    created: list[Database] = []

    async def make(spec: ServiceSpec) -> Database:
        database = await make_database(backend, spec, module_tmp, _pg_url_or_none(backend))
        created.append(database)
        return database

    yield make
    for database in created:
        await drop_database(database)


def asgi_client(app: object, base_url: str = "http://service") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)  # type: ignore[arg-type]
