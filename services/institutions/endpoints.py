"""HTTP routes of the institutions service (called by the gateway with the internal token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from services.institutions.dependencies import InstitutionServiceDep
from services.institutions.models import Institution
from services.institutions.schemas import (
    InstitutionCreate,
    InstitutionFields,
    InstitutionPatch,
    InstitutionRead,
)
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

router = APIRouter(prefix="/institutions", tags=["institutions (机构库)"])

Ref = Annotated[
    str,
    Path(
        description="`ins_…` ID, or an external ID: `ror:03cve4549`, `uscc:12100000400000624D`.",
        max_length=120,
    ),
]


def _read(record: Institution, response: Response) -> InstitutionRead:
    response.headers["ETag"] = etag_for(record.version)
    return InstitutionRead.model_validate(record)


@router.get(
    "",
    response_model=ListEnvelope[InstitutionRead],
    summary="List institutions in ID order (keyset paging)",
    responses=problem_responses(400, 401, 422),
)
async def list_institutions(
    service: InstitutionServiceDep,
    _caller: InternalCaller,
    query: ListQuery,
) -> ListEnvelope[InstitutionRead]:
    records = await service.list(after=query.after, limit=query.page_size, ids=query.ids)
    return ListEnvelope[InstitutionRead](
        meta=query.meta(records),
        results=[InstitutionRead.model_validate(r) for r in records],
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=InstitutionRead,
    summary="Create an institution",
    responses=problem_responses(400, 401, 403, 409, 413, 422),
)
async def create_institution(
    body: InstitutionCreate,
    service: InstitutionServiceDep,
    actor: Writer,
    response: Response,
    idempotency: IdempotencyKey,
) -> Response:
    record = await service.create(body, actor)
    response.headers["Location"] = f"/institutions/{record.id}"
    return await idempotency.answer(_read(record, response), response, status_code=201)


@router.put(
    "/sources/{source}/{external_id}",
    response_model=InstitutionRead,
    summary="Create or replace the institution keyed by (source, external_id)",
    description=UPSERT_DESCRIPTION,
    responses=upsert_responses(InstitutionRead, 400, 401, 403, 409, 413, 422),
)
async def upsert_institution(
    source: SourcePath,
    external_id: ExternalIdPath,
    body: InstitutionFields,
    service: InstitutionServiceDep,
    actor: Writer,
    response: Response,
) -> InstitutionRead:
    record, result = await service.upsert(source, external_id, body, actor)
    upserted(response, result, f"/institutions/{record.id}")
    return _read(record, response)


@router.post(
    "/bulk",
    response_model=BulkResponse,
    summary="Upsert institutions from NDJSON lines keyed by (source, external_id) (admin)",
    description=BULK_DESCRIPTION,
    openapi_extra=NDJSON_REQUEST_BODY,
    responses=problem_responses(400, 401, 403, 413, 415),
)
async def bulk_institutions(
    request: Request,
    service: InstitutionServiceDep,
    actor: Admin,
    response: Response,
    idempotency: IdempotencyKey,
) -> Response:
    lines = parse_lines(await read_body(request), InstitutionFields)
    result = await service.bulk_upsert(lines, actor)
    return await idempotency.answer(result, response, status_code=200)


@router.get(
    "/{ref}",
    response_model=InstitutionRead,
    summary="Read one institution (by ID, ror: or uscc:)",
    responses=problem_responses(400, 401, 404, 410),
)
async def get_institution(
    ref: Ref, service: InstitutionServiceDep, _caller: InternalCaller, response: Response
) -> InstitutionRead:
    return _read(await service.get(ref), response)


@router.patch(
    "/{ref}",
    response_model=InstitutionRead,
    summary="Update an institution (JSON merge patch, If-Match required)",
    responses=problem_responses(400, 401, 403, 404, 409, 410, 412, 413, 422, 428),
)
async def patch_institution(
    ref: Ref,
    body: InstitutionPatch,
    service: InstitutionServiceDep,
    actor: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> InstitutionRead:
    record = await service.update(ref, body.changes(), if_match, actor)
    return _read(record, response)


@router.delete(
    "/{ref}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an institution (If-Match required; leaves a tombstone)",
    responses=problem_responses(401, 403, 404, 409, 410, 412, 428),
)
async def delete_institution(
    ref: Ref, service: InstitutionServiceDep, actor: Writer, if_match: IfMatch = None
) -> Response:
    await service.delete(ref, if_match, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
