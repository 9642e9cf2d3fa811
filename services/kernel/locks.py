"""Transaction-scoped locks for the invariants a write checks by reading.

A write that checks a rule by reading other rows (no loop in a hierarchy, the parent still
there, nothing left pointing at a deleted record) is only right if no concurrent write can
change what it read before it commits. PostgreSQL at READ COMMITTED does not give that, so
such writes take a named lock first: a transaction-scoped advisory lock per (name, schema),
released at COMMIT or ROLLBACK. Each statement after it sees everything committed before, so
the writers of one name queue and each checks the state the previous one left. SQLite needs
nothing: every transaction there is `BEGIN IMMEDIATE`, one writer at a time.

The lock waits no longer than the request's deadline (PostgreSQL `lock_timeout`).
"""

from __future__ import annotations

import zlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


def lock_key(name: str) -> int:
    """A stable signed 32-bit key per lock name (advisory locks are keyed by integers)."""
    return zlib.crc32(f"zhihui-{name}".encode()) - 2**31


async def lock_for_transaction(session: AsyncSession, name: str) -> None:
    """Hold the lock `name` of this service's schema until the transaction ends.

    Advisory locks are per database, not per schema: the key is paired with the schema's hash
    so platforms (or test runs) sharing a database in separate schemas never queue behind
    each other.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"),
            {"key": lock_key(name)},
        )
