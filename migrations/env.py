"""Alembic environment: runs one service's branch on the connection the caller provides.

Use `zhihui migrate` (services/cli/migrations.py), which opens the service's database with its
PostgreSQL schema on the search path (or its SQLite file) and passes the connection in, so
each service's `alembic_version` table lives beside its own tables.
"""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes["connection"]
metadata = config.attributes["metadata"]

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode recreates tables instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    compare_server_default=True,
)

with context.begin_transaction():
    context.run_migrations()
