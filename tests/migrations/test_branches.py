"""Every component's Alembic branch: models and migrations agree, upgrades are idempotent."""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable

import pytest
from sqlalchemy import text

from services.cli.migrations import pending_model_changes
from services.cli.migrations import upgrade
from services.kernel.db import Database
from services.registry import COMPONENTS
from services.registry import ServiceSpec


@pytest.mark.parametrize("spec", COMPONENTS, ids=lambda s: s.name)
async def test_models_and_migrations_agree_and_upgrade_is_idempotent(
    database_factory: Callable[[ServiceSpec], Awaitable[Database]], spec: ServiceSpec
) -> None:
    database = await database_factory(spec)
    assert await pending_model_changes(database, spec) == []
    await upgrade(database, spec)  # a second run is a no-op, not an error
    async with database.engine.connect() as conn:
        versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    # one branch per database: exactly this component's head, nothing from other services
    assert [v[0].split("_")[0] for v in versions] == [spec.name]


async def test_each_database_holds_only_its_own_tables(
    database_factory: Callable[[ServiceSpec], Awaitable[Database]],
) -> None:
    """Own PostgreSQL schema or own SQLite file: no service sees another's tables."""
    for spec in COMPONENTS:
        database = await database_factory(spec)
        if database.is_postgres:
            query = text("SELECT tablename FROM pg_tables WHERE schemaname = :s")
            params = {"s": database.schema}
        else:
            query = text("SELECT name FROM sqlite_master WHERE type = 'table'")
            params = {}
        async with database.engine.connect() as conn:
            tables = set((await conn.execute(query, params)).scalars())
        assert tables - {"sqlite_sequence"} == {*spec.metadata.tables, "alembic_version"}
