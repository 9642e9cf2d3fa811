"""The outcomes models and their Alembic branch agree on both backends."""

from __future__ import annotations

from services.cli.migrations import pending_model_changes
from services.kernel.db import Database
from services.registry import service_named


async def test_migrations_match_the_models(outcomes_db: Database) -> None:
    assert await pending_model_changes(outcomes_db, service_named("outcomes")) == []
