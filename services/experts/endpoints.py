"""HTTP routes of the experts service (called by the gateway with the internal token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from services.experts.dependencies import ExpertServiceDep
from services.experts.models import Expert
from services.experts.schemas import ExpertCreate, ExpertFields, ExpertPatch, ExpertRead
from services.kernel.bulk import (
    BULK_DESCRIPTION,
    NDJSON_REQUEST_BODY,
    BulkResponse,
    parse_lines,
    read_body,
)
from services.kernel.concurrency import IfMatch, etag_for
from services.kernel.errors import problem_responses
from services.kernel.idempotency import IdempotencyKey
from services.kernel.internal_auth import Actor, Admin, InternalCaller, Role, Writer
from services.kernel.pagination import ListEnvelope, ListQuery
from services.kernel.routes import (
    UPSERT_DESCRIPTION,
    ExternalIdPath,
    SourcePath,
    upsert_responses,
    upserted,
)

router = APIRouter(prefix="/experts", tags=["experts (专家库)"])

Ref = Annotated[
    str,
    Path(description="`exp_…` ID, or an external ID: `orcid:0000-0002-1825-0097`.", max_length=120),
]


def _shown(record: Expert, actor: Actor) -> ExpertRead:
    # Contact details go to every signed-in role (reader and up, and the platform itself).
    return ExpertRead.from_record(record, include_restricted=actor.role is not Role.ANONYMOUS)


def _read(record: Expert, actor: Actor, response: Response) -> ExpertRead:
    response.headers["ETag"] = etag_for(record.version)
    return _shown(record, actor)


@router.get(
    "",
    response_model=ListEnvelope[ExpertRead],
    summary="List experts in ID order (keyset paging)",
    responses=problem_responses(400, 401, 422),
)
async def list_experts(
    service: ExpertServiceDep,
    caller: InternalCaller,
    query: ListQuery,
) -> ListEnvelope[ExpertRead]:
    records = await service.list(after=query.after, limit=query.page_size, ids=query.ids)
    return ListEnvelope[ExpertRead](
        meta=query.meta(records),
        results=[_shown(r, caller) for r in records],
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ExpertRead,
    summary="Create an expert",
    description="Affiliations must name existing institutions (checked with the institutions "
    "service; 503 with Retry-After if it cannot answer, and nothing is written).",
    responses=problem_responses(400, 401, 403, 409, 413, 422, 503),
)
async def create_expert(
    body: ExpertCreate,
    service: ExpertServiceDep,
    actor: Writer,
    response: Response,
    idempotency: IdempotencyKey,
) -> Response:
    record = await service.create(body, actor)
    response.headers["Location"] = f"/experts/{record.id}"
    return await idempotency.answer(_read(record, actor, response), response, status_code=201)


@router.put(
    "/sources/{source}/{external_id}",
    response_model=ExpertRead,
    summary="Create or replace the expert keyed by (source, external_id)",
    description=UPSERT_DESCRIPTION,
    responses=upsert_responses(ExpertRead, 400, 401, 403, 409, 413, 422, 503),
)
async def upsert_expert(
    source: SourcePath,
    external_id: ExternalIdPath,
    body: ExpertFields,
    service: ExpertServiceDep,
    actor: Writer,
    response: Response,
) -> ExpertRead:
    record, result = await service.upsert(source, external_id, body, actor)
    upserted(response, result, f"/experts/{record.id}")
    return _read(record, actor, response)


@router.post(
    "/bulk",
    response_model=BulkResponse,
    summary="Upsert experts from NDJSON lines keyed by (source, external_id) (admin)",
    description=BULK_DESCRIPTION
    + " Affiliations must name existing institutions (checked once for the whole body; 503 "
    "with Retry-After if the institutions service cannot answer, and nothing is written).",
    openapi_extra=NDJSON_REQUEST_BODY,
    responses=problem_responses(400, 401, 403, 413, 415, 503),
)
async def bulk_experts(
    request: Request,
    service: ExpertServiceDep,
    actor: Admin,
    response: Response,
    idempotency: IdempotencyKey,
) -> Response:
    lines = parse_lines(await read_body(request), ExpertFields)
    result = await service.bulk_upsert(lines, actor)
    return await idempotency.answer(result, response, status_code=200)


@router.get(
    "/{ref}",
    response_model=ExpertRead,
    summary="Read one expert (by ID or orcid:)",
    description="`email` and `phone` are included for signed-in callers and left out "
    "entirely for anonymous ones.",
    responses=problem_responses(400, 401, 404, 410),
)
async def get_expert(
    ref: Ref, service: ExpertServiceDep, caller: InternalCaller, response: Response
) -> ExpertRead:
    return _read(await service.get(ref), caller, response)


@router.patch(
    "/{ref}",
    response_model=ExpertRead,
    summary="Update an expert (JSON merge patch, If-Match required)",
    responses=problem_responses(400, 401, 403, 404, 409, 410, 412, 413, 422, 428, 503),
)
async def patch_expert(
    ref: Ref,
    body: ExpertPatch,
    service: ExpertServiceDep,
    actor: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> ExpertRead:
    record = await service.update(ref, body.changes(), if_match, actor)
    return _read(record, actor, response)


@router.delete(
    "/{ref}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an expert (If-Match required; leaves a tombstone)",
    responses=problem_responses(401, 403, 404, 410, 412, 428),
)
async def delete_expert(
    ref: Ref, service: ExpertServiceDep, actor: Writer, if_match: IfMatch = None
) -> Response:
    await service.delete(ref, if_match, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
