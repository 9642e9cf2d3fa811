"""Special-database definitions (特色数据库): listed and read by all, defined by admins.

No `from __future__ import annotations`: FastAPI must see the real body types.
"""

from typing import Annotated

import orjson
from fastapi import APIRouter
from fastapi import Path
from fastapi import Query
from fastapi import Request
from fastapi import Response
from fastapi import status

from services.datasets.schemas import DatasetCreate
from services.datasets.schemas import DatasetPatch
from services.datasets.schemas import DatasetRead
from services.gateway.auth import AdminCaller
from services.gateway.auth import Caller
from services.gateway.auth import WriterCaller
from services.gateway.dependencies import ProxyDep
from services.gateway.endpoints.records import IdempotencyKeyHeader
from services.gateway.endpoints.records import IfMatch
from services.gateway.proxy import forward_history
from services.gateway.proxy import relay
from services.gateway.proxy import relay_record
from services.kernel.errors import problem_responses
from services.kernel.history import HistoryPage
from services.kernel.history import HistoryParams
from services.kernel.internal_auth import Actor
from services.kernel.pagination import DEFAULT_PAGE_SIZE
from services.kernel.pagination import MAX_PAGE_SIZE
from services.kernel.pagination import ListEnvelope
from services.kernel.visibility import can_see

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets (特色数据库)"])
SERVICE = "datasets"
Slug = Annotated[str, Path(max_length=64, description="e.g. `nsfc-disciplines`")]


def shape_dataset(actor: Actor, dataset: dict) -> dict | None:
    """A dataset definition the caller may not see does not exist for them."""
    if not can_see(actor, str(dataset.get("visibility")), dataset.get("owner_org")):
        return None
    return dataset


@router.get(
    "",
    response_model=ListEnvelope[DatasetRead],
    summary="List the special databases and their field schemas",
    responses=problem_responses(400, 401, 429, 503),
)
async def list_datasets(
    request: Request,
    proxy: ProxyDep,
    actor: Caller,
    cursor: Annotated[str | None, Query(description="`meta.next_cursor` of the last page.")] = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> Response:
    params = {"page_size": page_size, **({"cursor": cursor} if cursor else {})}
    upstream = await proxy.forward(SERVICE, request, actor, params=params)
    if upstream.status_code != 200:
        return relay(upstream, request.url.path)
    page = orjson.loads(upstream.content)
    page["results"] = [d for d in page["results"] if shape_dataset(actor, d) is not None]
    return Response(orjson.dumps(page), media_type="application/json")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetRead,
    summary="Define a special database (admin)",
    responses=problem_responses(400, 401, 403, 409, 413, 422, 429, 503),
)
async def create_dataset(
    body: DatasetCreate,
    request: Request,
    proxy: ProxyDep,
    actor: AdminCaller,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    upstream = await proxy.forward(SERVICE, request, actor, idempotency_key=idempotency_key)
    return relay_record(upstream, request.url.path, actor, shape_dataset)


@router.get(
    "/{slug}/history",
    response_model=HistoryPage,
    summary="Who changed a definition and what, newest first; admins and the owning "
    "organisation's editors",
    responses=problem_responses(401, 403, 404, 410, 422, 429, 503),
)
async def read_dataset_history(
    slug: Slug,
    request: Request,
    proxy: ProxyDep,
    actor: WriterCaller,
    query: HistoryParams,
) -> Response:
    return await forward_history(proxy, SERVICE, request, actor, query)


@router.get(
    "/{slug}",
    response_model=DatasetRead,
    summary="Read a special database's definition (its field schema)",
    responses=problem_responses(401, 404, 410, 429, 503),
)
async def get_dataset(slug: Slug, request: Request, proxy: ProxyDep, actor: Caller) -> Response:
    upstream = await proxy.forward(SERVICE, request, actor)
    return relay_record(upstream, request.url.path, actor, shape_dataset)


@router.patch(
    "/{slug}",
    response_model=DatasetRead,
    summary="Change a definition (admin; merge patch, If-Match); incompatible changes are 409",
    responses=problem_responses(400, 401, 403, 404, 409, 410, 412, 413, 422, 428, 429, 503),
)
async def patch_dataset(
    slug: Slug,
    body: DatasetPatch,
    request: Request,
    proxy: ProxyDep,
    actor: AdminCaller,
    if_match: IfMatch = None,
    drop_removed_fields: Annotated[
        bool, Query(description="Delete the stored values of fields the patch removes.")
    ] = False,
) -> Response:
    params = {"drop_removed_fields": str(drop_removed_fields).lower()}
    upstream = await proxy.forward(SERVICE, request, actor, if_match=if_match, params=params)
    return relay_record(upstream, request.url.path, actor, shape_dataset)


@router.delete(
    "/{slug}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a special database and all its records (admin; If-Match)",
    responses=problem_responses(401, 403, 404, 410, 412, 428, 429, 503),
)
async def delete_dataset(
    slug: Slug, request: Request, proxy: ProxyDep, actor: AdminCaller, if_match: IfMatch = None
) -> Response:
    upstream = await proxy.forward(SERVICE, request, actor, if_match=if_match)
    return relay(upstream, request.url.path)
