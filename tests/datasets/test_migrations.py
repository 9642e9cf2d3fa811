"""The datasets models and the datasets Alembic branch agree, on both backends."""

from __future__ import annotations

from services.cli import migrations
from services.kernel.db import Database
from services.registry import service_named


async def test_models_and_migrations_agree(datasets_db: Database) -> None:
    assert await migrations.pending_model_changes(datasets_db, service_named("datasets")) == []
