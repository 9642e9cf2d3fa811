"""events: history (who changed what and when, kernel/history.py)

Revision ID: events_0002
Revises: events_0001
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from services.kernel.migration_steps import create_history
from services.kernel.migration_steps import drop_history

revision: str = "events_0002"
down_revision: str | Sequence[str] | None = "events_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_history()


def downgrade() -> None:
    drop_history()
