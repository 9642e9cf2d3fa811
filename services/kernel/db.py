"""Async engines and sessions: PostgreSQL (asyncpg, one schema per service) or a SQLite file."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import cast

from sqlalchemy import JSON
from sqlalchemy import DateTime
from sqlalchemy import MetaData
from sqlalchemy import event
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import CursorResult
from sqlalchemy.engine import Result
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.types import TypeDecorator

from services.kernel.deadline import remaining_ms

# Deterministic constraint names: migrations stay diffable and errors can name the field.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# How long a SQLite writer without a deadline queues for the write lock.
SQLITE_BUSY_TIMEOUT_MS = 30_000

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

JSONType = JSON().with_variant(JSONB(), "postgresql")


def rowcount(result: Result[Any]) -> int:
    """The rows an INSERT, UPDATE or DELETE (without RETURNING) matched. `Session.execute` runs
    those on a cursor and returns a `CursorResult`, but is typed as returning a `Result`."""
    return cast(CursorResult[Any], result).rowcount


def new_metadata() -> MetaData:
    """A MetaData with the platform's naming convention, one per service."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both backends (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalize_url(url: str) -> str:
    """Pick the async driver for plain `postgresql://` and `sqlite://` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


class Database:
    """One service's engine and session factory."""

    def __init__(self, url: str, *, schema: str | None = None, pool_size: int = 10) -> None:
        self.url = normalize_url(url)
        self.schema = schema
        self.is_postgres = is_postgres(self.url)
        self.engine: AsyncEngine = self._create_engine(pool_size)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    def _create_engine(self, pool_size: int) -> AsyncEngine:
        if self.is_postgres:
            if not self.schema or not _SCHEMA_NAME.match(self.schema):
                raise ValueError(f"invalid PostgreSQL schema name {self.schema!r}")
            # Every connection sees only this service's schema: tables are unqualified.
            engine = create_async_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                connect_args={"server_settings": {"search_path": self.schema}},
            )
            event.listen(engine.sync_engine, "begin", _postgres_begin_within_deadline)
            return engine
        path = make_url(self.url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(self.url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # We issue BEGIN ourselves (below); the driver's implicit deferred BEGIN would let two
    # writers both read, then deadlock on the lock upgrade instead of queueing.
    dbapi_connection.isolation_level = None
    # WAL lets readers (the change-feed poller) run beside the single writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock up front so concurrent writers queue (busy_timeout) in order, for
    # no longer than the request's deadline allows (kernel/deadline.py).
    wait_ms = remaining_ms()
    conn.exec_driver_sql(
        f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS if wait_ms is None else wait_ms}"
    )
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _postgres_begin_within_deadline(conn: Any) -> None:
    # A write with a deadline waits for locks, and runs each statement, no longer than the
    # deadline allows; reads and deadline-free calls pay no extra round trip.
    wait_ms = remaining_ms()
    if wait_ms is not None:
        conn.exec_driver_sql(
            f"SELECT set_config('lock_timeout', '{wait_ms}ms', true), "
            f"set_config('statement_timeout', '{wait_ms}ms', true)"
        )
