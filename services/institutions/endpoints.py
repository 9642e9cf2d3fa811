"""HTTP routes of the institutions service (called by the gateway with the internal token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response, status

from services.institutions.dependencies import InstitutionServiceDep
from services.institutions.models import Institution
from services.institutions.schemas import (
    InstitutionCreate,
    InstitutionFields,
    InstitutionPatch,
    InstitutionRead,
)
from services.kernel.concurrency import etag_for
from services.kernel.errors import BadRequest, problem_responses
from services.kernel.internal_auth import InternalCaller, Writer
from services.kernel.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    ListEnvelope,
    ListMeta,
    decode_cursor,
    encode_cursor,
)

router = APIRouter(prefix="/institutions", tags=["institutions (机构库)"])

Ref = Annotated[
    str,
    Path(
        description="`ins_…` ID, or an external ID: `ror:03cve4549`, `uscc:12100000400000624D`.",
        max_length=120,
    ),
]
IfMatch = Annotated[
    str | None, Header(description='ETag from your last GET of the record, e.g. `"v3"`.')
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
    cursor: Annotated[
        str | None, Query(description="`meta.next_cursor` of the previous page.")
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    ids: Annotated[
        str | None, Query(description="Comma-separated IDs to fetch at once (≤ 100).")
    ] = None,
) -> ListEnvelope[InstitutionRead]:
    id_list = [i.strip() for i in ids.split(",") if i.strip()] if ids is not None else None
    if id_list is not None and len(id_list) > MAX_PAGE_SIZE:
        raise BadRequest(f"ids: at most {MAX_PAGE_SIZE} IDs per request; split the list.")
    after = decode_cursor(cursor).get("after") if cursor else None
    records = await service.list(after=after, limit=page_size, ids=id_list)
    next_cursor = (
        encode_cursor({"after": records[-1].id})
        if id_list is None and len(records) == page_size
        else None
    )
    return ListEnvelope[InstitutionRead](
        meta=ListMeta(page_size=page_size, next_cursor=next_cursor),
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
    body: InstitutionCreate, service: InstitutionServiceDep, actor: Writer, response: Response
) -> InstitutionRead:
    record = await service.create(body, actor)
    response.headers["Location"] = f"/institutions/{record.id}"
    return _read(record, response)


@router.put(
    "/sources/{source}/{external_id}",
    response_model=InstitutionRead,
    summary="Create or replace the institution keyed by (source, external_id)",
    description="Idempotent: sending the same body twice leaves one record and one version. "
    "The `Zhihui-Upsert` header says `created`, `updated` or `unchanged`.",
    responses=problem_responses(400, 401, 403, 409, 413, 422),
)
async def upsert_institution(
    source: Annotated[str, Path(max_length=64)],
    external_id: Annotated[str, Path(max_length=200)],
    body: InstitutionFields,
    service: InstitutionServiceDep,
    actor: Writer,
    response: Response,
) -> InstitutionRead:
    record, result = await service.upsert(source, external_id, body, actor)
    response.headers["Zhihui-Upsert"] = result.value
    if result.value == "created":
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = f"/institutions/{record.id}"
    return _read(record, response)


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
