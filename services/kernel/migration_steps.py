"""Schema steps that several services' migrations take alike (each in its own branch).

A step that a released migration calls never changes: a later change gets a new step and a new
migration, so upgrading an old database always replays what it replayed when first written.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.kernel.db import JSONType
from services.kernel.db import UTCDateTime

LIVE = sa.text("deleted_at IS NULL")


def create_idempotency_keys() -> None:
    """The `idempotency_keys` table of kernel/idempotency.py (2026-12, revision 0002)."""
    op.create_table(
        "idempotency_keys",
        sa.Column("caller", sa.String(length=96), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("headers", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("caller", "key", name=op.f("pk_idempotency_keys")),
    )


def create_history() -> None:
    """The `history` table of kernel/history.py (2026-12, each library's next revision)."""
    op.create_table(
        "history",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("actor_org", sa.String(length=64), nullable=True),
        sa.Column("actor_key_id", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("changes", JSONType, nullable=False),
        sa.Column("occurred_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_history")),
    )
    op.create_index(op.f("ix_history_record_id"), "history", ["record_id"], unique=False)


def drop_history() -> None:
    op.drop_index(op.f("ix_history_record_id"), table_name="history")
    op.drop_table("history")


def replace_live_unique(
    table: str, old: str, old_columns: Sequence[str], new: str, new_columns: Sequence[str]
) -> None:
    """Swap one unique index over live records (`kernel.records.live_unique`) for another."""
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_index(old, postgresql_where=LIVE, sqlite_where=LIVE)
        batch_op.create_index(
            new, list(new_columns), unique=True, postgresql_where=LIVE, sqlite_where=LIVE
        )
