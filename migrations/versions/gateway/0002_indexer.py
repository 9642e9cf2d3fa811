"""gateway: indexer cursors and leases

Revision ID: gateway_0002
Revises: gateway_0001
Create Date: 2026-11-29 07:57:01.819440
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.kernel.db  # custom column types

revision: str = "gateway_0002"
down_revision: str | Sequence[str] | None = "gateway_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "indexer_cursors",
        sa.Column("feed", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", services.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", services.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("feed", name=op.f("pk_indexer_cursors")),
    )
    op.create_table(
        "indexer_leases",
        sa.Column("feed", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", services.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("feed", name=op.f("pk_indexer_leases")),
    )


def downgrade() -> None:
    op.drop_table("indexer_leases")
    op.drop_table("indexer_cursors")
