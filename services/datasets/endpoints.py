"""HTTP routes of the datasets service (called by the gateway with the internal token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Header
from fastapi import Path
from fastapi import Query
from fastapi import Request
from fastapi import Response
from fastapi import status

from services.datasets.dependencies import DatasetServiceDep
from services.datasets.dependencies import RecordServiceDep
from services.datasets.documents import DatasetView
from services.datasets.documents import parse_fields
from services.datasets.models import Dataset
from services.datasets.models import DatasetRecord
from services.datasets.schemas import VISIBILITY_LABELS
from services.datasets.schemas import DatasetCreate
from services.datasets.schemas import DatasetPatch
from services.datasets.schemas import DatasetRead
from services.datasets.schemas import RecordCreate
from services.datasets.schemas import RecordFields
from services.datasets.schemas import RecordPatch
from services.datasets.schemas import RecordRead
from services.datasets.service import may_see_restricted
from services.datasets.values import labels
from services.datasets.values import present
from services.kernel.bulk import BULK_DESCRIPTION
from services.kernel.bulk import NDJSON_REQUEST_BODY
from services.kernel.bulk import BulkResponse
from services.kernel.bulk import parse_lines
from services.kernel.bulk import read_body
from services.kernel.concurrency import etag_for
from services.kernel.errors import problem_responses
from services.kernel.history import HistoryPage
from services.kernel.history import HistoryParams
from services.kernel.idempotency import IdempotencyKey
from services.kernel.internal_auth import Actor
from services.kernel.internal_auth import Admin
from services.kernel.internal_auth import InternalCaller
from services.kernel.internal_auth import Writer
from services.kernel.pagination import DEFAULT_PAGE_SIZE
from services.kernel.pagination import CursorQuery
from services.kernel.pagination import ListEnvelope
from services.kernel.pagination import ListMeta
from services.kernel.pagination import ListQuery
from services.kernel.pagination import PageSizeQuery
from services.kernel.pagination import cursor_after
from services.kernel.pagination import encode_cursor
from services.kernel.routes import UPSERT_DESCRIPTION
from services.kernel.routes import ExternalIdPath
from services.kernel.routes import SourcePath
from services.kernel.routes import upsert_responses
from services.kernel.routes import upserted
from services.kernel.visibility import Visibility

router = APIRouter(prefix="/datasets", tags=["datasets (特色数据库)"])

SlugPath = Annotated[
    str, Path(description="The dataset's slug, e.g. `nsfc-disciplines`.", max_length=64)
]
RecordId = Annotated[str, Path(description="`dsr_…` ID of the record.", max_length=64)]
IfMatch = Annotated[
    str | None, Header(description='ETag from your last GET of the resource, e.g. `"v3"`.')
]


def _dataset_read(dataset: Dataset, record_count: int) -> DatasetRead:
    return DatasetRead(
        id=dataset.id,
        slug=dataset.slug,
        name=dataset.name,
        name_en=dataset.name_en,
        description=dataset.description,
        visibility=Visibility(dataset.visibility),
        visibility_label=VISIBILITY_LABELS[Visibility(dataset.visibility)],
        fields=parse_fields(dataset.fields),
        title_field=dataset.title_field,
        owner_org=dataset.owner_org,
        version=dataset.version,
        created_at=dataset.created_at,
        updated_at=dataset.updated_at,
        record_count=record_count,
    )


def _record_read(view: DatasetView, record: DatasetRecord, actor: Actor) -> RecordRead:
    show_restricted = may_see_restricted(record.owner_org, actor)
    return RecordRead(
        id=record.id,
        dataset=view.slug,
        title=view.title(record.values),
        values=present(record.values, view.fields, include_restricted=show_restricted),
        labels=labels(record.values, view.fields),
        owner_org=record.owner_org,
        source=record.source,
        external_id=record.external_id,
        version=record.version,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


# --- definitions --------------------------------------------------------------------------


@router.get(
    "",
    response_model=ListEnvelope[DatasetRead],
    summary="List the special databases the caller may see, by slug",
    responses=problem_responses(400, 401, 422),
)
async def list_datasets(
    service: DatasetServiceDep,
    caller: InternalCaller,
    cursor: CursorQuery = None,
    page_size: PageSizeQuery = DEFAULT_PAGE_SIZE,
) -> ListEnvelope[DatasetRead]:
    datasets, next_after = await service.list(caller, after=cursor_after(cursor), limit=page_size)
    counts = await service.record_counts(datasets)
    return ListEnvelope[DatasetRead](
        meta=ListMeta(
            page_size=page_size,
            next_cursor=encode_cursor({"after": next_after}) if next_after else None,
        ),
        results=[_dataset_read(d, counts.get(d.id, 0)) for d in datasets],
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetRead,
    summary="Define a special database (admin)",
    responses=problem_responses(400, 401, 403, 409, 413, 422),
)
async def create_dataset(
    body: DatasetCreate,
    service: DatasetServiceDep,
    actor: Admin,
    response: Response,
    idempotency: IdempotencyKey,
) -> Response:
    dataset = await service.create(body, actor)
    response.headers["Location"] = f"/datasets/{dataset.slug}"
    response.headers["ETag"] = etag_for(dataset.version)
    return await idempotency.answer(_dataset_read(dataset, 0), response, status_code=201)


@router.get(
    "/{slug}",
    response_model=DatasetRead,
    summary="Read a special database's definition (its field schema)",
    responses=problem_responses(401, 404, 410),
)
async def get_dataset(
    slug: SlugPath, service: DatasetServiceDep, caller: InternalCaller, response: Response
) -> DatasetRead:
    dataset = await service.get(slug, caller)
    counts = await service.record_counts([dataset])
    response.headers["ETag"] = etag_for(dataset.version)
    return _dataset_read(dataset, counts.get(dataset.id, 0))


@router.patch(
    "/{slug}",
    response_model=DatasetRead,
    summary="Change a definition (admin; JSON merge patch, If-Match required)",
    description="`fields` is replaced as a whole list. Stored records are checked against the "
    "new definition: a change that would invalidate any is refused with 409 (per field, how "
    "many records), a lossless one (integer→number, keyword→text, a new optional field) "
    "migrates them, each with a new version. `Zhihui-Migrated` says how many.",
    responses=problem_responses(400, 401, 403, 404, 409, 410, 412, 413, 422, 428),
)
async def patch_dataset(
    slug: SlugPath,
    body: DatasetPatch,
    service: DatasetServiceDep,
    actor: Admin,
    response: Response,
    if_match: IfMatch = None,
    drop_removed_fields: Annotated[
        bool, Query(description="Delete the stored values of fields the patch removes.")
    ] = False,
) -> DatasetRead:
    dataset, migrated = await service.update(
        slug, body.changes(), if_match, actor, drop_removed_fields=drop_removed_fields
    )
    counts = await service.record_counts([dataset])
    response.headers["ETag"] = etag_for(dataset.version)
    response.headers["Zhihui-Migrated"] = str(migrated)
    return _dataset_read(dataset, counts.get(dataset.id, 0))


@router.delete(
    "/{slug}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a special database and all its records (admin; If-Match; tombstones)",
    responses=problem_responses(401, 403, 404, 410, 412, 428),
)
async def delete_dataset(
    slug: SlugPath, service: DatasetServiceDep, actor: Admin, if_match: IfMatch = None
) -> Response:
    deleted = await service.delete(slug, if_match, actor)
    return Response(
        status_code=status.HTTP_204_NO_CONTENT, headers={"Zhihui-Deleted-Records": str(deleted)}
    )


# --- records ------------------------------------------------------------------------------


@router.get(
    "/{slug}/records",
    response_model=ListEnvelope[RecordRead],
    summary="List a dataset's records in ID order (keyset paging)",
    responses=problem_responses(400, 401, 404, 410, 422),
)
async def list_records(
    slug: SlugPath,
    service: RecordServiceDep,
    caller: InternalCaller,
    query: ListQuery,
) -> ListEnvelope[RecordRead]:
    dataset, records = await service.list(
        slug, caller, after=query.after, limit=query.page_size, ids=query.ids
    )
    view = DatasetView.of(dataset)
    return ListEnvelope[RecordRead](
        meta=query.meta(records),
        results=[_record_read(view, r, caller) for r in records],
    )


@router.post(
    "/{slug}/records",
    status_code=status.HTTP_201_CREATED,
    response_model=RecordRead,
    summary="Add a record (validated against the dataset's fields)",
    responses=problem_responses(400, 401, 403, 404, 409, 410, 413, 422, 503),
)
async def create_record(
    slug: SlugPath,
    body: RecordCreate,
    service: RecordServiceDep,
    actor: Writer,
    response: Response,
    idempotency: IdempotencyKey,
) -> Response:
    dataset, record = await service.create(slug, body, actor)
    response.headers["Location"] = f"/datasets/{dataset.slug}/records/{record.id}"
    response.headers["ETag"] = etag_for(record.version)
    read = _record_read(DatasetView.of(dataset), record, actor)
    return await idempotency.answer(read, response, status_code=201)


@router.post(
    "/{slug}/records/bulk",
    response_model=BulkResponse,
    summary="Upsert records from NDJSON lines keyed by (source, external_id) (admin)",
    description=BULK_DESCRIPTION
    + " Each line's `values` are checked against the dataset's fields.",
    openapi_extra=NDJSON_REQUEST_BODY,
    responses=problem_responses(400, 401, 403, 404, 410, 413, 415, 503),
)
async def bulk_records(
    slug: SlugPath,
    request: Request,
    service: RecordServiceDep,
    actor: Admin,
    response: Response,
    idempotency: IdempotencyKey,
) -> Response:
    lines = parse_lines(await read_body(request), RecordFields)
    result = await service.bulk_upsert(slug, lines, actor)
    return await idempotency.answer(result, response, status_code=200)


@router.put(
    "/{slug}/records/sources/{source}/{external_id}",
    response_model=RecordRead,
    summary="Create or replace the record keyed by (source, external_id)",
    description=UPSERT_DESCRIPTION,
    responses=upsert_responses(RecordRead, 400, 401, 403, 404, 409, 410, 413, 422, 503),
)
async def upsert_record(
    slug: SlugPath,
    source: SourcePath,
    external_id: ExternalIdPath,
    body: RecordFields,
    service: RecordServiceDep,
    actor: Writer,
    response: Response,
) -> RecordRead:
    dataset, record, result = await service.upsert(slug, source, external_id, body, actor)
    upserted(response, result, f"/datasets/{dataset.slug}/records/{record.id}")
    response.headers["ETag"] = etag_for(record.version)
    return _record_read(DatasetView.of(dataset), record, actor)


@router.get(
    "/{slug}/history",
    response_model=HistoryPage,
    summary="Who changed a definition and what, newest first (admins and its organisation's "
    "editors)",
    responses=problem_responses(401, 403, 404, 410, 422),
)
async def get_dataset_history(
    slug: SlugPath,
    service: DatasetServiceDep,
    caller: InternalCaller,
    query: HistoryParams,
) -> HistoryPage:
    return await service.history(await service.get(slug, caller), caller, query)


@router.get(
    "/{slug}/records/{record_id}/history",
    response_model=HistoryPage,
    summary="Who changed a record and what, newest first (admins and its organisation's editors)",
    responses=problem_responses(401, 403, 404, 410, 422),
)
async def get_record_history(
    slug: SlugPath,
    record_id: RecordId,
    service: RecordServiceDep,
    caller: InternalCaller,
    query: HistoryParams,
) -> HistoryPage:
    _dataset, record = await service.get(slug, record_id, caller)
    return await service.history(record, caller, query)


@router.get(
    "/{slug}/records/{record_id}",
    response_model=RecordRead,
    summary="Read one record",
    responses=problem_responses(401, 404, 410),
)
async def get_record(
    slug: SlugPath,
    record_id: RecordId,
    service: RecordServiceDep,
    caller: InternalCaller,
    response: Response,
) -> RecordRead:
    dataset, record = await service.get(slug, record_id, caller)
    response.headers["ETag"] = etag_for(record.version)
    return _record_read(DatasetView.of(dataset), record, caller)


@router.patch(
    "/{slug}/records/{record_id}",
    response_model=RecordRead,
    summary="Update a record (JSON merge patch, If-Match required)",
    responses=problem_responses(400, 401, 403, 404, 409, 410, 412, 413, 422, 428, 503),
)
async def patch_record(
    slug: SlugPath,
    record_id: RecordId,
    body: RecordPatch,
    service: RecordServiceDep,
    actor: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> RecordRead:
    dataset, record = await service.update(slug, record_id, body.changes(), if_match, actor)
    response.headers["ETag"] = etag_for(record.version)
    return _record_read(DatasetView.of(dataset), record, actor)


@router.delete(
    "/{slug}/records/{record_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a record (If-Match required; leaves a tombstone)",
    responses=problem_responses(401, 403, 404, 410, 412, 428),
)
async def delete_record(
    slug: SlugPath,
    record_id: RecordId,
    service: RecordServiceDep,
    actor: Writer,
    if_match: IfMatch = None,
) -> Response:
    await service.delete(slug, record_id, if_match, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
