"""The feed's ordering guarantee on PostgreSQL, shown deterministically with two open transactions.

(SQLite runs one write transaction at a time, so the trap cannot arise there.)
"""

from __future__ import annotations

import asyncio

import pytest

from services.institutions.models import InstitutionChange
from services.kernel.changefeed import read_changes, record_change
from services.kernel.db import Database


@pytest.fixture(scope="module")
def backend() -> str:
    return "postgresql"


async def _append(database: Database, record_id: str, release: asyncio.Event) -> int:
    async with database.sessionmaker() as session:
        seq = await record_change(
            session,
            InstitutionChange,
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
        page = await read_changes(session, InstitutionChange, after=after, limit=100)
        return [c.record_id for c in page.changes]


async def test_a_later_writer_cannot_commit_its_change_before_an_earlier_one(
    institutions_db: Database,
) -> None:
    async with institutions_db.sessionmaker() as session:
        start = (await read_changes(session, InstitutionChange, after=0, limit=1)).head
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
