"""Record routes of every library: read, create, upsert, patch, delete (forwarded).

Built per library from its `Library` entry so each gets typed request/response schemas in the
one OpenAPI document. No `from __future__ import annotations` here: FastAPI must see the
real body types, which are chosen at runtime.
"""

from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Path, Query, Request, Response, status

from services.gateway.auth import Caller, WriterCaller
from services.gateway.dependencies import ProxyDep
from services.gateway.libraries import Library
from services.gateway.proxy import PUBLIC_PREFIX, relay, relay_record
from services.kernel.errors import BadRequest, FieldError, problem_responses
from services.kernel.internal_auth import Actor
from services.kernel.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ListEnvelope

# The list grammar of API.md that the search index will serve ([search]); until then a list
# pages through the library in ID order and says so instead of ignoring the parameter.
_SEARCH_PARAMETERS = ("q", "filter", "sort", "facets", "page", "select")

IfMatch = Annotated[
    str | None, Header(description='ETag from your last GET of the record, e.g. `"v3"`.')
]


def service_path(request: Request) -> str:
    """Public `/api/v1/X` is the owning service's `/X`: one mapping for every library."""
    return request.url.path.removeprefix(PUBLIC_PREFIX)


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
    CreateBody = library.create_schema
    PatchBody = library.patch_schema
    UpsertBody = library.upsert_schema

    async def ensure_visible(proxy: ProxyDep, actor: Actor, request: Request) -> None:
        # A caller who may not see a record must not learn it exists from a 403 on a write.
        if library.has_visibility:
            upstream = await proxy.send(service, "GET", service_path(request), actor)
            relay_record(upstream, request.url.path, actor, library.shape)

    @router.get(
        "",
        response_model=ListEnvelope[library.list_schema or library.read_schema],
        summary=f"List records ({library.label}) in ID order, cursor paging",
        description="Follow `meta.next_cursor` until it is null. Only records the caller may "
        "see are listed.",
        responses=problem_responses(400, 401, 429, 503),
    )
    async def list_records(
        request: Request,
        proxy: ProxyDep,
        actor: Caller,
        cursor: Annotated[
            str | None, Query(description="`meta.next_cursor` of the last page.")
        ] = None,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    ) -> Response:
        unsupported = [p for p in _SEARCH_PARAMETERS if p in request.query_params]
        if unsupported:
            raise BadRequest(
                f"{', '.join(unsupported)}: full-text search, filters, sorting and facets are "
                "served by the search index, which this deployment does not have yet; page with "
                "`cursor` and `page_size`.",
                errors=[FieldError(("query", p), "not supported yet") for p in unsupported],
            )
        params = {"page_size": page_size, **({"cursor": cursor} if cursor else {})}
        upstream = await proxy.send(service, "GET", service_path(request), actor, params=params)
        if upstream.status_code != 200:
            return relay(upstream, request.url.path)
        page = orjson.loads(upstream.content)
        shaped = (library.shape(actor, record) for record in page["results"])
        page["results"] = [record for record in shaped if record is not None]
        return Response(orjson.dumps(page), media_type="application/json")

    @router.get(
        "/{ref}",
        response_model=library.read_schema,
        summary=f"Read one record ({library.label})",
        responses=problem_responses(400, 401, 404, 410, 429, 503),
    )
    async def read_record(ref: Ref, request: Request, proxy: ProxyDep, actor: Caller) -> Response:
        upstream = await proxy.send(service, "GET", service_path(request), actor)
        return relay_record(upstream, request.url.path, actor, library.shape)

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=library.read_schema,
        summary=f"Create a record ({library.label}); editor or admin",
        responses=problem_responses(400, 401, 403, 409, 413, 422, 429, 503),
    )
    async def create_record(
        body: CreateBody, request: Request, proxy: ProxyDep, actor: WriterCaller
    ) -> Response:
        upstream = await proxy.send(
            service, "POST", service_path(request), actor, body=await request.body()
        )
        return relay_record(upstream, request.url.path, actor, library.shape)

    @router.put(
        "/sources/{source}/{external_id}",
        response_model=library.read_schema,
        summary=f"Create or replace by (source, external_id) ({library.label}); editor or admin",
        description="Idempotent upsert for imports: the same body twice leaves one record and "
        "one version. `Zhihui-Upsert` says `created`, `updated` or `unchanged`.",
        responses=problem_responses(400, 401, 403, 409, 413, 422, 429, 503),
    )
    async def upsert_record(
        source: Annotated[str, Path(max_length=64)],
        external_id: Annotated[str, Path(max_length=200)],
        body: UpsertBody,
        request: Request,
        proxy: ProxyDep,
        actor: WriterCaller,
    ) -> Response:
        upstream = await proxy.send(
            service, "PUT", service_path(request), actor, body=await request.body()
        )
        return relay_record(upstream, request.url.path, actor, library.shape)

    @router.patch(
        "/{ref}",
        response_model=library.read_schema,
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
        upstream = await proxy.send(
            service,
            "PATCH",
            service_path(request),
            actor,
            body=await request.body(),
            if_match=if_match,
        )
        return relay_record(upstream, request.url.path, actor, library.shape)

    @router.delete(
        "/{ref}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary=f"Delete a record ({library.label}): If-Match required, leaves a tombstone",
        responses=problem_responses(401, 403, 404, 409, 410, 412, 428, 429, 503),
    )
    async def delete_record(
        ref: Ref, request: Request, proxy: ProxyDep, actor: WriterCaller, if_match: IfMatch = None
    ) -> Response:
        await ensure_visible(proxy, actor, request)
        upstream = await proxy.send(
            service, "DELETE", service_path(request), actor, if_match=if_match
        )
        return relay(upstream, request.url.path)

    return router
