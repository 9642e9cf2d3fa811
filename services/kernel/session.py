"""The database session of one request: committed before the answer is sent, or rolled back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.db import Database
from services.kernel.deadline import ensure_before_deadline


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; commits when the route returns, rolls back if it raised."""
    database: Database = request.app.state.database
    async with database.sessionmaker() as session:
        try:
            yield session
            # Past the caller's deadline the caller has its 503 already: never commit then.
            ensure_before_deadline()
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": the commit happens before the response is sent, so a failed commit is
# reported to the caller instead of being lost after a 200.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
