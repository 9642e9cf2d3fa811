"""The experts models and the experts migrations describe the same tables, on both backends."""

from __future__ import annotations

from services.cli.migrations import pending_model_changes
from services.kernel.db import Database
from services.registry import service_named


async def test_models_and_migrations_agree(experts_db: Database) -> None:
    assert await pending_model_changes(experts_db, service_named("experts")) == []
