"""Record routes of every library: read, create, upsert, patch, delete (forwarded).

Built per library from its `Library` entry so each gets typed request/response schemas in the
one OpenAPI document. No `from __future__ import annotations` here: FastAPI must see the
real body types, which are chosen at runtime.
"""

from typing import Annotated
from typing import Any

from fastapi import APIRouter
from fastapi import Header
from fastapi import Path
from fastapi import Request
from fastapi import Response
from fastapi import status

from services.gateway.auth import AdminCaller
from services.gateway.auth import Caller
from services.gateway.auth import WriterCaller
from services.gateway.dependencies import ProxyDep
from services.gateway.endpoints.search import Params
from services.gateway.endpoints.search import SearchDep
from services.gateway.libraries import Library
from services.gateway.proxy import PUBLIC_PREFIX
from services.gateway.proxy import forward_history
from services.gateway.proxy import relay
from services.gateway.proxy import relay_record
from services.gateway.proxy import service_path
from services.gateway.search.libraries import LIBRARY_SCHEMAS
from services.gateway.search.model import LibrarySchema
from services.kernel.app import UnicodeJSONResponse
from services.kernel.bulk import BULK_DESCRIPTION
from services.kernel.bulk import NDJSON_MEDIA_TYPE
from services.kernel.bulk import NDJSON_REQUEST_BODY
from services.kernel.bulk import BulkResponse
from services.kernel.errors import NotFound
from services.kernel.errors import problem_responses
from services.kernel.history import HistoryPage
from services.kernel.history import HistoryParams
from services.kernel.idempotency import IDEMPOTENCY_HEADER
from services.kernel.idempotency import IDEMPOTENCY_KEY_DESCRIPTION
from services.kernel.idempotency import IDEMPOTENCY_KEY_PATTERN
from services.kernel.internal_auth import Actor
from services.kernel.internal_auth import Role
from services.kernel.pagination import ListEnvelope
from services.kernel.routes import UPSERT_DESCRIPTION
from services.kernel.routes import upsert_responses
from services.kernel.visibility import can_see


def _list_description(library: Library) -> str:
    schema = LIBRARY_SCHEMAS.get(library.name)
    if schema is None:
        return (
            "The special database's own fields (see `GET /api/v1/datasets/{slug}`) are its "
            "filter, facet and sort fields, as declared."
        )
    fields = schema.fields.values()
    return (
        "The list grammar of the API (q, filter, sort, facets, page/page_size, cursor, "
        "select).\n\n"
        f"* filter: {', '.join(f'`{f.name}` ({f.label})' for f in fields)}\n"
        f"* facets: {', '.join(f'`{f.name}`' for f in fields if f.facetable)}\n"
        f"* sort: {', '.join(f'`{f.name}`' for f in fields if f.sortable)}, `relevance`\n"
        f"* default sort: relevance with q, else {_sort_text(schema)}"
    )


def _sort_text(schema: LibrarySchema) -> str:
    return ", ".join(f"{name}:{'desc' if desc else 'asc'}" for name, desc in schema.default_sort)


async def _search_schema(library: Library, request: Request, actor: Actor) -> LibrarySchema:
    """The library's search schema; a special database's only if the caller may see it."""
    if library.name in LIBRARY_SCHEMAS:
        return LIBRARY_SCHEMAS[library.name]
    slug = request.path_params.get("slug", "")
    catalogue = request.app.state.catalogue
    definition = catalogue.definition(slug)
    schema = await catalogue.dataset(slug) if definition else None
    if schema is None or not can_see(
        actor, str(definition.get("visibility")), definition.get("owner_org")
    ):
        raise NotFound(f"No special database {slug[:64]!r}; see GET /api/v1/datasets.")
    return schema


IfMatch = Annotated[
    str | None, Header(description='ETag from your last GET of the record, e.g. `"v3"`.')
]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=IDEMPOTENCY_KEY_DESCRIPTION,
    ),
]


def library_router(library: Library) -> APIRouter:
    """The record routes of one library under `/api/v1/{library.path}`."""
    router = APIRouter(
        prefix=f"{PUBLIC_PREFIX}/{library.path}",
        tags=[f"{library.name} ({library.label})"],
        dependencies=list(library.path_dependencies),
    )
    service = library.service
    Ref = Annotated[
        str,
        Path(
            max_length=200,
            description=f"`{library.id_prefix}_…` ID"
            + (f", or an external ID: {library.external_ids}" if library.external_ids else ""),
        ),
    ]
    # Under a path parameter (a special database's slug) a write can name a parent that is absent.
    missing_parent = (404,) if "{" in library.path else ()
    # The library's models, known only at run time: typed Any so that they may annotate the
    # routes' bodies, from which FastAPI reads them.
    listed_model: Any = library.schemas.listed or library.schemas.read
    CreateBody: Any = library.schemas.create
    PatchBody: Any = library.schemas.patch
    UpsertBody: Any = library.schemas.fields
    # A DOI holds '/' (doi:10.1234/abc), so an outcome's ref takes the rest of the path, as in
    # the outcomes service; without it `GET /api/v1/outcomes/doi:…` matched no route.
    one = "/{ref:path}" if library.ref_is_path else "/{ref}"

    async def ensure_visible(proxy: ProxyDep, actor: Actor, request: Request) -> None:
        # A caller who may not see a record must not learn it exists from a 403 on a write.
        if library.has_visibility:
            upstream = await proxy.forward(service, request, actor)
            relay_record(upstream, request.url.path, actor, library.shape)

    @router.get(
        "",
        response_model=ListEnvelope[listed_model],
        summary=f"Search and list records ({library.label})",
        description=_list_description(library),
        responses=problem_responses(400, 401, 404, 429, 503),
    )
    async def list_records(
        request: Request, search: SearchDep, actor: Caller, params: Params
    ) -> Response:
        schema = await _search_schema(library, request, actor)
        if library.name not in LIBRARY_SCHEMAS:
            # A special database's visibility covers every record in it, whichever organisation
            # owns the record (as on reads): the check above admitted the caller to all of them.
            actor = Actor(role=Role.SERVICE)
        # Index documents add joined names (institution_name, author names…) to the record's
        # fields, so the envelope is sent as is; the response model documents the core.
        return UnicodeJSONResponse(await search.list(schema, params, actor))

    if library.keeps_history:
        # Before the record's own route: a path-shaped ref (a DOI) would take `/history` too.
        @router.get(
            f"{one}/history",
            response_model=HistoryPage,
            summary=f"Who changed a record and what, newest first ({library.label}); the "
            "owning organisation's editors and admins",
            description="Each write with its actor (role, organisation, key ID), request ID and "
            "every changed field's value before and after. An editor of another organisation "
            "gets a 403 for a record they may see, and a 404 for one they may not.",
            responses=problem_responses(400, 401, 403, 404, 410, 422, 429, 503),
        )
        async def read_history(
            ref: Ref,
            request: Request,
            proxy: ProxyDep,
            actor: WriterCaller,
            query: HistoryParams,
        ) -> Response:
            return await forward_history(proxy, service, request, actor, query)

    @router.get(
        one,
        response_model=library.schemas.read,
        summary=f"Read one record ({library.label})",
        responses=problem_responses(400, 401, 404, 410, 429, 503),
    )
    async def read_record(ref: Ref, request: Request, proxy: ProxyDep, actor: Caller) -> Response:
        upstream = await proxy.forward(service, request, actor)
        return relay_record(upstream, request.url.path, actor, library.shape)

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=library.schemas.read,
        summary=f"Create a record ({library.label}); editor or admin",
        responses=problem_responses(400, 401, 403, *missing_parent, 409, 413, 422, 429, 503),
    )
    async def create_record(
        body: CreateBody,
        request: Request,
        proxy: ProxyDep,
        actor: WriterCaller,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response:
        upstream = await proxy.forward(service, request, actor, idempotency_key=idempotency_key)
        return relay_record(upstream, request.url.path, actor, library.shape)

    @router.put(
        "/sources/{source}/{external_id}",
        response_model=library.schemas.read,
        summary=f"Create or replace by (source, external_id) ({library.label}); editor or admin",
        description=UPSERT_DESCRIPTION,
        responses=upsert_responses(
            library.schemas.read, 400, 401, 403, *missing_parent, 409, 413, 422, 429, 503
        ),
    )
    async def upsert_record(
        source: Annotated[str, Path(max_length=64)],
        external_id: Annotated[str, Path(max_length=200)],
        body: UpsertBody,
        request: Request,
        proxy: ProxyDep,
        actor: WriterCaller,
    ) -> Response:
        upstream = await proxy.forward(service, request, actor)
        return relay_record(upstream, request.url.path, actor, library.shape)

    @router.post(
        "/bulk",
        response_model=BulkResponse,
        summary=f"Bulk upsert by (source, external_id) from NDJSON ({library.label}); admin",
        description=BULK_DESCRIPTION,
        openapi_extra=NDJSON_REQUEST_BODY,
        responses=problem_responses(400, 401, 403, 404, 413, 415, 429, 503),
    )
    async def bulk_upsert(
        request: Request,
        proxy: ProxyDep,
        actor: AdminCaller,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response:
        headers = {"Content-Type": request.headers.get("content-type") or NDJSON_MEDIA_TYPE}
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        upstream = await proxy.client(service).request(
            "POST",
            service_path(request),
            actor=actor,
            content=await request.body(),
            headers=headers,
            timeout_seconds=request.app.state.settings.bulk_timeout_seconds,
        )
        return relay(upstream, request.url.path)

    @router.patch(
        one,
        response_model=library.schemas.read,
        summary=f"Update a record ({library.label}): JSON merge patch, If-Match required",
        responses=problem_responses(400, 401, 403, 404, 409, 410, 412, 413, 422, 428, 429, 503),
    )
    async def patch_record(
        ref: Ref,
        body: PatchBody,
        request: Request,
        proxy: ProxyDep,
        actor: WriterCaller,
        if_match: IfMatch = None,
    ) -> Response:
        await ensure_visible(proxy, actor, request)
        upstream = await proxy.forward(service, request, actor, if_match=if_match)
        return relay_record(upstream, request.url.path, actor, library.shape)

    @router.delete(
        one,
        status_code=status.HTTP_204_NO_CONTENT,
        summary=f"Delete a record ({library.label}): If-Match required, leaves a tombstone",
        responses=problem_responses(401, 403, 404, 409, 410, 412, 428, 429, 503),
    )
    async def delete_record(
        ref: Ref, request: Request, proxy: ProxyDep, actor: WriterCaller, if_match: IfMatch = None
    ) -> Response:
        await ensure_visible(proxy, actor, request)
        upstream = await proxy.forward(service, request, actor, if_match=if_match)
        return relay(upstream, request.url.path)

    return router
