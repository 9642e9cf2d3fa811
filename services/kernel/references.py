"""`GET /internal/references/{library}/{record_id}`: how many live records here refer to it.

Asked by the service that owns `record_id` before it deletes the record (a referenced
institution is not deleted silently). Each service answers for its own records, counted by
its repository; the record's existence is the owner's business, so any ID is counted.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path
from pydantic import BaseModel
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import NotFound
from services.kernel.errors import problem_responses
from services.kernel.internal_auth import InternalCaller
from services.kernel.session import Session

# Counts the live records of this service that refer to one record of another library.
ReferenceCounter = Callable[[AsyncSession, str], Awaitable[int]]


class ReferenceCount(BaseModel):
    library: str = Field(description="This service's library, whose records were counted.")
    count: int = Field(description="Live records that refer to the record.")


def references_router(library: str, counters: Mapping[str, ReferenceCounter]) -> APIRouter:
    """The route, for the libraries in `counters` that this service's records refer to."""
    router = APIRouter(prefix="/internal", tags=["internal"])

    @router.get(
        "/references/{target}/{record_id}",
        response_model=ReferenceCount,
        summary="How many live records of this library refer to a record of another",
        responses=problem_responses(401, 404),
    )
    async def count_references(
        target: str,
        record_id: Annotated[str, Path(max_length=64, pattern=r"^[a-z]{2,4}_[0-9a-z]{1,60}$")],
        session: Session,
        _caller: InternalCaller,
    ) -> ReferenceCount:
        counter = counters.get(target)
        if counter is None:
            known = ", ".join(sorted(counters)) or "none"
            raise NotFound(f"{library} records do not refer to {target[:40]!r} (only: {known}).")
        return ReferenceCount(library=library, count=await counter(session, record_id))

    return router
