"""The feed's ordering guarantee on PostgreSQL, shown deterministically with two open transactions.

(SQLite runs one write transaction at a time, so the trap cannot arise there.)
"""

from __future__ import annotations

import asyncio
import secrets

import pytest

from services.cli import migrations
from services.institutions.models import TABLES as INSTITUTIONS_TABLES
from services.kernel.changefeed import read_changes
from services.kernel.changefeed import record_change
from services.kernel.db import Database
from services.registry import service_named
from tests.conftest import drop_database


@pytest.fixture(scope="module")
def backend() -> str:
    return "postgresql"


async def _append(database: Database, record_id: str, release: asyncio.Event) -> int:
    async with database.sessionmaker() as session:
        seq = await record_change(
            session,
            INSTITUTIONS_TABLES.change,
            entity="institution",
            record_id=record_id,
            op="upsert",
            version=1,
            document={"id": record_id},
        )
        await release.wait()
        await session.commit()
        return seq


async def _visible(database: Database, after: int) -> list[str]:
    async with database.sessionmaker() as session:
        page = await read_changes(session, INSTITUTIONS_TABLES.change, after=after, limit=100)
        return [c.record_id for c in page.changes]


async def test_a_later_writer_cannot_commit_its_change_before_an_earlier_one(
    institutions_db: Database,
) -> None:
    async with institutions_db.sessionmaker() as session:
        start = (await read_changes(session, INSTITUTIONS_TABLES.change, after=0, limit=1)).head
    first_may_commit, second_may_commit = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(_append(institutions_db, "ins_first", first_may_commit))
    await asyncio.sleep(0.2)
    second = asyncio.create_task(_append(institutions_db, "ins_second", second_may_commit))
    second_may_commit.set()
    try:
        await asyncio.sleep(0.3)
        # The second writer waits for the first's open transaction; nothing is visible yet,
        # so a reader cannot move its cursor past a sequence number that commits later.
        assert not second.done(), "second writer committed while an earlier change was open"
        assert await _visible(institutions_db, start) == []
    finally:
        first_may_commit.set()
        first_seq, second_seq = await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert first_seq < second_seq
    assert await _visible(institutions_db, start) == ["ins_first", "ins_second"]


async def test_feed_writers_queue_only_behind_their_own_schema(postgres_url: str) -> None:
    """Found under load: the change-feed lock was database-wide, so a bulk import of another
    platform (another schema, same database) held up our writes past the gateway's 10 s
    timeout (503). Within a schema writers must still queue; across schemas, never."""
    spec = service_named("institutions")
    databases = {
        name: Database(postgres_url, schema=schema, pool_size=2)
        for name, schema in (
            ("ours", f"lock{secrets.token_hex(3)}_a"),
            ("neighbour", f"lock{secrets.token_hex(3)}_b"),
        )
    }
    databases["ours_again"] = Database(postgres_url, schema=databases["ours"].schema, pool_size=2)

    async def write(database: Database) -> int:
        async with database.sessionmaker() as session, session.begin():
            return await record_change(
                session, INSTITUTIONS_TABLES.change, entity="institution", record_id="ins_lock",
                op="delete", version=1, document=None,
            )  # fmt: skip

    try:
        for name in ("ours", "neighbour"):
            await migrations.upgrade(databases[name], spec)
        async with databases["ours"].sessionmaker() as holder, holder.begin():
            # Holds our feed's lock until this transaction ends.
            await record_change(
                holder, INSTITUTIONS_TABLES.change, entity="institution", record_id="ins_lock",
                op="delete", version=1, document=None,
            )  # fmt: skip
            neighbour = asyncio.create_task(write(databases["neighbour"]))
            neighbour_waited = not (await asyncio.wait({neighbour}, timeout=5))[0]
            same_schema = asyncio.create_task(write(databases["ours_again"]))
            await asyncio.sleep(1)
            same_schema_waited = not same_schema.done()
        await asyncio.wait_for(asyncio.gather(neighbour, same_schema), timeout=10)
        assert not neighbour_waited, "a write in another schema queued behind our feed's lock"
        assert same_schema_waited, (
            "two writers of one feed did not queue: seqs could commit out of order"
        )
    finally:
        await drop_database(databases.pop("ours_again"))
        for database in databases.values():
            await drop_database(database)
