"""The indexer's durable state (cursors and leases, in the gateway's database) and feed reads.

Every statement here is one short transaction that works the same on PostgreSQL and SQLite:
leases are taken with a single `INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING` (free,
expired or already mine), and a cursor moves only by compare-and-set from the position its
holder read, so a stale holder that wakes up late can neither skip a change nor move the
cursor back.

Lease expiry compares wall-clock times written by different hosts: keep their clocks in sync
(NTP), with a skew well below the lease TTL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from services.gateway.models import IndexerCursor
from services.gateway.models import IndexerLease
from services.kernel.changefeed import ChangePage
from services.kernel.db import Database
from services.kernel.db import rowcount
from services.kernel.db import utcnow
from services.kernel.http import ServiceClient

CHANGES_PATH = "/internal/changes"
MAX_ERROR_LENGTH = 1000


class _QuietFeedRetries(logging.Filter):
    """Drops `ServiceClient`'s per-attempt failure lines for feed reads.

    The indexer retries feed reads itself and logs once per failure streak; without this, a
    down service would add a warning line per retry. Other calls' lines are kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.args, tuple) and CHANGES_PATH in record.args)


_quiet_feed_retries = _QuietFeedRetries()


def quiet_feed_retry_logs() -> None:
    """Install the filter above on the HTTP client's logger (idempotent)."""
    http_logger = logging.getLogger("zhihui.http")
    if _quiet_feed_retries not in http_logger.filters:
        http_logger.addFilter(_quiet_feed_retries)


class FeedUnavailable(Exception):
    """A service's change feed answered something other than a page of changes."""


async def read_feed(client: ServiceClient, *, after: int, limit: int) -> ChangePage:
    """One page of committed changes with seq > after; raises when the feed cannot be read.

    `ServiceClient` turns transport failures and 5xx answers into `ServiceUnavailable`;
    any other non-200 answer (a wrong internal token, say) becomes `FeedUnavailable`.
    """
    response = await client.request("GET", CHANGES_PATH, params={"after": after, "limit": limit})
    if response.status_code != 200:
        raise FeedUnavailable(
            f"{client.name} change feed answered {response.status_code}: {response.text[:200]}"
        )
    return ChangePage.model_validate_json(response.content)


@dataclass(frozen=True, slots=True)
class LeaseState:
    """The outcome of one acquire/renew: whether we hold it, who does, and the cursor."""

    held: bool
    holder: str | None
    # The durable cursor, read in the same transaction (None when the lease is not ours).
    position: int | None


class IndexerStore:
    """Cursors and leases of the indexer, in the gateway's database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def _insert(self, table: Any) -> Any:
        dialect = postgresql if self.database.is_postgres else sqlite
        return dialect.insert(table)

    async def acquire(self, feed: str, holder: str, ttl: float) -> LeaseState:
        """Take or renew the feed's lease (free, expired or already mine) and read its cursor."""
        now = utcnow()
        expires_at = now + timedelta(seconds=ttl)
        lease = IndexerLease.__table__
        cursor = IndexerCursor.__table__
        take = self._insert(lease).values(feed=feed, holder=holder, expires_at=expires_at)
        take = take.on_conflict_do_update(
            index_elements=[lease.c.feed],
            set_={"holder": holder, "expires_at": expires_at},
            where=or_(lease.c.holder == holder, lease.c.expires_at < now),
        ).returning(lease.c.holder)
        ensure_cursor = (
            self._insert(cursor)
            .values(feed=feed, position=0, updated_at=now)
            .on_conflict_do_nothing(index_elements=[cursor.c.feed])
        )
        async with self.database.sessionmaker() as session, session.begin():
            taken = (await session.execute(take)).scalar_one_or_none()
            if taken != holder:
                current = (
                    await session.execute(select(lease.c.holder).where(lease.c.feed == feed))
                ).scalar_one_or_none()
                return LeaseState(held=False, holder=current, position=None)
            await session.execute(ensure_cursor)
            position = (
                await session.execute(select(cursor.c.position).where(cursor.c.feed == feed))
            ).scalar_one()
        return LeaseState(held=True, holder=holder, position=int(position))

    async def release(self, feed: str, holder: str) -> None:
        """Give the lease up (only if still ours) so another indexer can take it at once."""
        lease = IndexerLease.__table__
        async with self.database.sessionmaker() as session, session.begin():
            await session.execute(
                delete(lease).where(lease.c.feed == feed, lease.c.holder == holder)
            )

    async def advance(self, feed: str, holder: str, *, old: int, new: int) -> bool:
        """Move the cursor from `old` to `new` if it is still at `old` and the lease is ours.

        False means someone else moved it (another holder, or an operator resetting it for a
        re-index) or the lease is gone: re-read before going on. Clears the recorded error.
        """
        lease = IndexerLease.__table__
        cursor = IndexerCursor.__table__
        still_mine = exists().where(lease.c.feed == feed, lease.c.holder == holder)
        stmt = (
            update(cursor)
            .where(cursor.c.feed == feed, cursor.c.position == old, still_mine)
            .values(position=new, updated_at=utcnow(), last_error=None, last_error_at=None)
        )
        async with self.database.sessionmaker() as session, session.begin():
            result = await session.execute(stmt)
        return bool(rowcount(result))

    async def record_error(self, feed: str, holder: str, error: str | None) -> None:
        """Store (or clear, with None) the feed's current error, while we hold its lease."""
        lease = IndexerLease.__table__
        cursor = IndexerCursor.__table__
        still_mine = exists().where(lease.c.feed == feed, lease.c.holder == holder)
        stmt = (
            update(cursor)
            .where(cursor.c.feed == feed, still_mine)
            .values(
                last_error=error[:MAX_ERROR_LENGTH] if error else None,
                last_error_at=utcnow() if error else None,
            )
        )
        async with self.database.sessionmaker() as session, session.begin():
            await session.execute(stmt)

    async def cursors(self) -> dict[str, IndexerCursor]:
        """Every stored cursor, by feed (for operators and tests)."""
        async with self.database.sessionmaker() as session:
            rows = (await session.execute(select(IndexerCursor))).scalars().all()
        return {row.feed: row for row in rows}

    async def leases(self) -> dict[str, IndexerLease]:
        """Every lease row, by feed (expired ones included)."""
        async with self.database.sessionmaker() as session:
            rows = (await session.execute(select(IndexerLease))).scalars().all()
        return {row.feed: row for row in rows}

    async def reset(self, feed: str, position: int = 0) -> None:
        """Set a feed's cursor (0 re-indexes the whole feed); a running holder re-reads it."""
        cursor = IndexerCursor.__table__
        upsert = self._insert(cursor).values(feed=feed, position=position, updated_at=utcnow())
        upsert = upsert.on_conflict_do_update(
            index_elements=[cursor.c.feed],
            set_={"position": position, "updated_at": utcnow(), "last_error": None},
        )
        async with self.database.sessionmaker() as session, session.begin():
            await session.execute(upsert)
