"""Alembic, driven programmatically: one version branch per service, one database per service."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from services.kernel.db import Database
from services.registry import ServiceSpec

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def version_dir(spec: ServiceSpec) -> Path:
    return MIGRATIONS_DIR / "versions" / spec.name


def alembic_config(spec: ServiceSpec) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Each database holds exactly one service's branch, so only that branch is loaded: its
    # heads are the database's heads, and autogenerate's "up to date" check holds.
    cfg.set_main_option("version_locations", str(version_dir(spec)))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["metadata"] = spec.metadata
    return cfg


async def _ensure_schema(database: Database) -> None:
    if database.is_postgres:
        async with database.engine.connect() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{database.schema}"'))
            await conn.commit()


async def _run(database: Database, spec: ServiceSpec, fn: Any) -> Any:
    await _ensure_schema(database)
    cfg = alembic_config(spec)

    def call(conn: Connection) -> Any:
        cfg.attributes["connection"] = conn
        return fn(cfg, conn)

    async with database.engine.begin() as conn:
        return await conn.run_sync(call)


async def upgrade(database: Database, spec: ServiceSpec, target: str = "head") -> None:
    """Apply the service's branch up to `target` (default: its head)."""
    await _run(database, spec, lambda cfg, _c: command.upgrade(cfg, f"{spec.name}@{target}"))


async def pending_model_changes(database: Database, spec: ServiceSpec) -> list[Any]:
    """What autogenerate would still add: empty when models and migrations agree."""

    def diff(_cfg: Config, conn: Connection) -> list[Any]:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, spec.metadata))

    return await _run(database, spec, diff)


def _branch_has_revisions(spec: ServiceSpec) -> bool:
    return any(version_dir(spec).glob("*.py"))


async def autogenerate(spec: ServiceSpec, message: str, scratch_url: str) -> None:
    """Write a new revision for `spec` from the model diff against a scratch database."""
    database = Database(scratch_url, schema=f"{spec.name}_autogen")
    version_dir(spec).mkdir(parents=True, exist_ok=True)
    first = not _branch_has_revisions(spec)
    try:
        if not first:
            await upgrade(database, spec)
        await _run(
            database,
            spec,
            lambda cfg, _c: command.revision(
                cfg,
                message=message,
                autogenerate=True,
                head="base" if first else f"{spec.name}@head",
                branch_label=spec.name if first else None,
                version_path=str(version_dir(spec)),
            ),
        )
    finally:
        await database.dispose()


def run(coro: Any) -> Any:
    return asyncio.run(coro)
