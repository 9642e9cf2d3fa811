"""outcomes: import keys per owning organisation, Idempotency-Key answers

Revision ID: outcomes_0002
Revises: outcomes_0001
Create Date: 2026-12-06 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from services.kernel.migration_steps import create_idempotency_keys
from services.kernel.migration_steps import replace_live_unique

revision: str = "outcomes_0002"
down_revision: str | Sequence[str] | None = "outcomes_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KEY = ("uq_outcomes_source_external_id_live", ("source", "external_id"))
# Each owning organisation has its own (source, external_id) key space: partners never
# collide, and an upsert never learns of another organisation's hidden record.
NEW_KEY = ("uq_outcomes_import_key_live", ("owner_org", "source", "external_id"))


def upgrade() -> None:
    create_idempotency_keys()
    replace_live_unique("outcomes", *OLD_KEY, *NEW_KEY)


def downgrade() -> None:
    replace_live_unique("outcomes", *NEW_KEY, *OLD_KEY)
    op.drop_table("idempotency_keys")
