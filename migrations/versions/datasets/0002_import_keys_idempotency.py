"""datasets: import keys per owning organisation, Idempotency-Key answers

Revision ID: datasets_0002
Revises: datasets_0001
Create Date: 2026-12-06 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from services.kernel.migration_steps import create_idempotency_keys
from services.kernel.migration_steps import replace_live_unique

revision: str = "datasets_0002"
down_revision: str | Sequence[str] | None = "datasets_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KEY = (
    "uq_dataset_records_dataset_id_source_external_id_live",
    ("dataset_id", "source", "external_id"),
)
# Each owning organisation has its own (source, external_id) key space: partners never
# collide, and an upsert never learns of another organisation's hidden record.
NEW_KEY = (
    "uq_dataset_records_import_key_live",
    ("dataset_id", "owner_org", "source", "external_id"),
)


def upgrade() -> None:
    create_idempotency_keys()
    replace_live_unique("dataset_records", *OLD_KEY, *NEW_KEY)


def downgrade() -> None:
    replace_live_unique("dataset_records", *NEW_KEY, *OLD_KEY)
    op.drop_table("idempotency_keys")
