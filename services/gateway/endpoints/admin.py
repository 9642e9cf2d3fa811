"""Admin routes: API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path
from fastapi import Query
from fastapi import Request
from fastapi import status

from services.gateway.auth import AdminCaller
from services.gateway.dependencies import KeyServiceDep
from services.gateway.indexer.reindex import reindex_library
from services.gateway.keys.schemas import KeyCreate
from services.gateway.keys.schemas import KeyCreated
from services.gateway.keys.schemas import KeyRead
from services.kernel.errors import problem_responses
from services.kernel.pagination import ListEnvelope
from services.kernel.pagination import ListMeta

router = APIRouter(prefix="/api/v1/admin", tags=["admin (管理)"])


@router.post(
    "/keys",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreated,
    summary="Create an API key (the secret is shown once)",
    responses=problem_responses(400, 401, 403, 422, 429),
)
async def create_key(
    body: KeyCreate, request: Request, keys: KeyServiceDep, actor: AdminCaller
) -> KeyCreated:
    key, secret = await keys.create(
        body,
        default_rate_limit=request.app.state.settings.default_key_rate_limit,
        created_by=actor.key_id,
    )
    return KeyCreated.model_validate({**KeyRead.model_validate(key).model_dump(), "secret": secret})


@router.get(
    "/keys",
    response_model=ListEnvelope[KeyRead],
    summary="List API keys (never their secrets)",
    responses=problem_responses(401, 403, 429),
)
async def list_keys(
    keys: KeyServiceDep,
    _actor: AdminCaller,
    include_revoked: Annotated[bool, Query(description="Also list revoked keys.")] = False,
) -> ListEnvelope[KeyRead]:
    found = [KeyRead.model_validate(k) for k in await keys.list(include_revoked=include_revoked)]
    return ListEnvelope[KeyRead](
        meta=ListMeta(count=len(found), page_size=max(len(found), 1)), results=found
    )


@router.delete(
    "/keys/{key_id}",
    response_model=KeyRead,
    summary="Revoke an API key (takes effect at once)",
    responses=problem_responses(401, 403, 404, 429),
)
async def revoke_key(
    key_id: Annotated[str, Path(max_length=40)], keys: KeyServiceDep, _actor: AdminCaller
) -> KeyRead:
    return KeyRead.model_validate(await keys.revoke(key_id))


@router.post(
    "/reindex",
    summary="Rebuild a library's search index behind its alias, then swap (admin)",
    description="Re-analyses every indexed record (e.g. after the analysis pipeline changed). "
    "On Elasticsearch searches keep working on the old index until the atomic swap.",
    responses=problem_responses(400, 401, 403, 429, 503),
)
async def reindex(
    request: Request,
    _actor: AdminCaller,
    library: Annotated[str, Query(description="institutions, experts or outcomes")],
) -> dict[str, object]:
    report = await reindex_library(request.app.state.search_components, library)
    return {
        "library": report.library,
        "documents": report.documents,
        "took_ms": report.took_ms,
        "alias_swapped": report.swapped,
    }
