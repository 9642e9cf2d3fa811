"""HTTP routes of the outcomes service (called by the gateway with the internal token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

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
from services.kernel.internal_auth import Admin, InternalCaller, Writer
from services.kernel.pagination import ListEnvelope, ListQuery
from services.kernel.routes import (
    UPSERT_DESCRIPTION,
    ExternalIdPath,
    SourcePath,
    upsert_responses,
    upserted,
)
from services.outcomes.dependencies import OutcomeServiceDep
from services.outcomes.models import Outcome
from services.outcomes.schemas import (
    OutcomeCreate,
    OutcomeFields,
    OutcomePatch,
    OutcomeRead,
    OutcomeSummary,
)

router = APIRouter(prefix="/outcomes", tags=["outcomes (成果库)"])

# `:path` because a DOI always contains a slash (doi:10.1234/abc).
Ref = Annotated[
    str,
    Path(description="`out_…` ID, or a DOI: `doi:10.1234/abc`.", max_length=400),
]


def _read(record: Outcome, response: Response) -> OutcomeRead:
    response.headers["ETag"] = etag_for(record.version)
    return OutcomeRead.model_validate(record)


@router.get(
    "",
    response_model=ListEnvelope[OutcomeSummary],
    summary="List the outcomes the caller may see, in ID order (keyset paging; no full texts)",
    responses=problem_responses(400, 401, 422),
)
async def list_outcomes(
    service: OutcomeServiceDep,
    caller: InternalCaller,
    query: ListQuery,
) -> ListEnvelope[OutcomeSummary]:
    records = await service.list(caller, after=query.after, limit=query.page_size, ids=query.ids)
    return ListEnvelope[OutcomeSummary](
        meta=query.meta(records),
        results=[OutcomeSummary.model_validate(r) for r in records],
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OutcomeRead,
    summary="Create an outcome",
    responses=problem_responses(400, 401, 403, 409, 413, 422, 503),
)
async def create_outcome(
    body: OutcomeCreate,
    service: OutcomeServiceDep,
    actor: Writer,
    response: Response,
    idempotency: IdempotencyKey,
) -> Response:
    record = await service.create(body, actor)
    response.headers["Location"] = f"/outcomes/{record.id}"
    return await idempotency.answer(_read(record, response), response, status_code=201)


@router.put(
    "/sources/{source}/{external_id}",
    response_model=OutcomeRead,
    summary="Create or replace the outcome keyed by (source, external_id)",
    description=UPSERT_DESCRIPTION,
    responses=upsert_responses(OutcomeRead, 400, 401, 403, 409, 413, 422, 503),
)
async def upsert_outcome(
    source: SourcePath,
    external_id: ExternalIdPath,
    body: OutcomeFields,
    service: OutcomeServiceDep,
    actor: Writer,
    response: Response,
) -> OutcomeRead:
    record, result = await service.upsert(source, external_id, body, actor)
    upserted(response, result, f"/outcomes/{record.id}")
    return _read(record, response)


@router.post(
    "/bulk",
    response_model=BulkResponse,
    summary="Upsert outcomes from NDJSON lines keyed by (source, external_id) (admin)",
    description=BULK_DESCRIPTION
    + " Experts and institutions named must exist (503 with Retry-After if their services "
    "cannot answer, and nothing is written).",
    openapi_extra=NDJSON_REQUEST_BODY,
    responses=problem_responses(400, 401, 403, 413, 415, 503),
)
async def bulk_outcomes(
    request: Request,
    service: OutcomeServiceDep,
    actor: Admin,
    response: Response,
    idempotency: IdempotencyKey,
) -> Response:
    lines = parse_lines(await read_body(request), OutcomeFields)
    result = await service.bulk_upsert(lines, actor)
    return await idempotency.answer(result, response, status_code=200)


@router.get(
    "/{ref:path}",
    response_model=OutcomeRead,
    summary="Read one outcome (by ID or doi:), if the caller may see it",
    description="A record the caller may not see is a 404, like one that does not exist.",
    responses=problem_responses(400, 401, 404, 410),
)
async def get_outcome(
    ref: Ref, service: OutcomeServiceDep, caller: InternalCaller, response: Response
) -> OutcomeRead:
    return _read(await service.get(ref, caller), response)


@router.patch(
    "/{ref:path}",
    response_model=OutcomeRead,
    summary="Update an outcome (JSON merge patch, If-Match required)",
    responses=problem_responses(400, 401, 403, 404, 409, 410, 412, 413, 422, 428, 503),
)
async def patch_outcome(
    ref: Ref,
    body: OutcomePatch,
    service: OutcomeServiceDep,
    actor: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> OutcomeRead:
    record = await service.update(ref, body.changes(), if_match, actor)
    return _read(record, response)


@router.delete(
    "/{ref:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an outcome (If-Match required; leaves a tombstone)",
    responses=problem_responses(401, 403, 404, 410, 412, 428),
)
async def delete_outcome(
    ref: Ref, service: OutcomeServiceDep, actor: Writer, if_match: IfMatch = None
) -> Response:
    await service.delete(ref, if_match, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
