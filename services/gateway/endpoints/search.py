"""Search routes: cross-library search, autocomplete, statistics, affiliation matching and
related records. All of them answer from the search index, with visibility applied."""

from __future__ import annotations

from typing import Annotated
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi import Depends
from fastapi import Path
from fastapi import Query
from fastapi import Request
from fastapi import Response

from services.gateway.auth import Caller
from services.gateway.dependencies import ProxyDep
from services.gateway.proxy import encoded_segment
from services.gateway.proxy import relay
from services.gateway.search.libraries import LIBRARY_SCHEMAS
from services.gateway.search.model import FilterClause
from services.gateway.search.model import LibrarySchema
from services.gateway.search.service import ListParams
from services.gateway.search.service import SearchService
from services.kernel.app import UnicodeJSONResponse
from services.kernel.errors import BadRequest
from services.kernel.errors import FieldError
from services.kernel.errors import problem_responses
from services.kernel.library import record_libraries
from services.kernel.pagination import DEFAULT_PAGE_SIZE
from services.kernel.pagination import MAX_PAGE_SIZE

router = APIRouter(prefix="/api/v1", tags=["search (检索)"])

SEARCHABLE = tuple(LIBRARY_SCHEMAS)
SEARCH_ERRORS = problem_responses(400, 401, 429, 503)


async def get_search(request: Request) -> SearchService:
    """The search service, once the index has its libraries (503 while it is unreachable)."""
    await request.app.state.search_components.ensure_ready()
    search: SearchService = request.app.state.search
    return search


SearchDep = Annotated[SearchService, Depends(get_search)]


async def list_params(
    q: Annotated[
        str | None,
        Query(
            max_length=500,
            description='Full text. Words AND; "a phrase"; -word excludes; a OR b. '
            "Chinese is segmented. Syntax characters are plain text.",
            examples=["人工智能 治理"],
        ),
    ] = None,
    filter: Annotated[
        str | None,
        Query(
            max_length=2000,
            description="field:value pairs joined by `,`; `|` ORs values; `!` negates; "
            "ranges `a..b`. Each library lists its fields in the docs of its list route.",
            examples=["type:university|think_tank,province:北京市"],
        ),
    ] = None,
    sort: Annotated[
        str | None,
        Query(description="`field:asc|desc`, comma-separated; default relevance with q."),
    ] = None,
    facets: Annotated[
        str | None, Query(description="Comma-separated facetable fields.", examples=["type"])
    ] = None,
    page: Annotated[
        int | None, Query(ge=1, description="From 1; page × page_size ≤ 10 000.")
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(description="`*` to start deep paging, then `meta.next_cursor`.")
    ] = None,
    select: Annotated[
        str | None, Query(description="Comma-separated top-level fields to return.")
    ] = None,
) -> ListParams:
    """The list grammar's parameters (async: FastAPI runs a plain `def` in a worker thread)."""
    return ListParams(q, filter, sort, facets, page, page_size, cursor, select)


Params = Annotated[ListParams, Depends(list_params)]


def _libraries(raw: str | None, allowed: tuple[str, ...] = SEARCHABLE) -> tuple[str, ...]:
    if raw is None or not raw.strip():
        return allowed
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise BadRequest(
            f"libraries: unknown library '{unknown[0][:40]}'; choose from {', '.join(allowed)}",
            errors=[FieldError(("query", "libraries"), "unknown library")],
        )
    return names


def _schema(library: str) -> LibrarySchema:
    schema = LIBRARY_SCHEMAS.get(library)
    if schema is None:
        raise BadRequest(
            f"library: '{library[:40]}' has no statistics; choose from {', '.join(SEARCHABLE)}",
            errors=[FieldError(("path", "library"), "unknown library")],
        )
    return schema


@router.get(
    "/search",
    summary="Search across libraries (merged ranking, a `library` facet)",
    responses=SEARCH_ERRORS,
)
async def search_everything(
    search: SearchDep,
    actor: Caller,
    params: Params,
    libraries: Annotated[
        str | None,
        Query(description="Comma-separated; default all.", examples=["experts,outcomes"]),
    ] = None,
) -> dict[str, Any]:
    return await search.search_all(_libraries(libraries), params, actor)


@router.get(
    "/autocomplete",
    summary="Up to 10 suggestions: name prefixes, aliases, acronyms, pinyin, initials",
    description="`qh` and `qinghua` both suggest 清华大学.",
    responses=SEARCH_ERRORS,
)
async def autocomplete(
    search: SearchDep,
    actor: Caller,
    q: Annotated[str, Query(min_length=1, max_length=100, examples=["qh"])],
    libraries: Annotated[str | None, Query(examples=["institutions,experts"])] = None,
) -> dict[str, Any]:
    return {"results": await search.autocomplete(q, _libraries(libraries), actor)}


@router.get(
    "/stats/{library}",
    summary="Counts per value (or value pair) for statistics pages",
    responses=SEARCH_ERRORS,
)
async def statistics(
    library: Annotated[str, Path(examples=["outcomes"])],
    search: SearchDep,
    actor: Caller,
    group_by: Annotated[str, Query(max_length=200, examples=["type,year"])],
    q: Annotated[str | None, Query(max_length=500)] = None,
    filter: Annotated[str | None, Query(max_length=2000)] = None,
) -> dict[str, Any]:
    return await search.stats(_schema(library), group_by, ListParams(q=q, filter=filter), actor)


@router.get(
    "/institutions/match",
    summary="Free-text affiliation → ranked institutions; `chosen` when one is clearly right",
    responses=SEARCH_ERRORS,
)
async def match_institution(
    search: SearchDep,
    actor: Caller,
    affiliation: Annotated[
        str,
        Query(min_length=1, max_length=500, examples=["清华大学计算机科学与技术系，北京 100084"]),
    ],
) -> dict[str, Any]:
    return {"results": await search.match_affiliation(affiliation, actor)}


def _related(library: str, field: str, record_id: str) -> tuple[LibrarySchema, FilterClause]:
    schema = LIBRARY_SCHEMAS[library]
    return schema, FilterClause(schema.fields[field], values=(record_id,))


# `/{owner}/{id}/{relation}` → the library whose records name the owner, and its filter field
# (from the declared links: /institutions/{id}/experts, /experts/{id}/outcomes, …).
RELATED = {
    (link.target, link.route): (library.name, link.filter_field)
    for library in record_libraries()
    for link in library.links
}


def related_route(owner: str, relation: str) -> None:
    library, field = RELATED[(owner, relation)]

    @router.get(
        f"/{owner}/{{record_id}}/{relation}",
        summary=f"{LIBRARY_SCHEMAS[library].label} related to this record",
        responses=problem_responses(400, 401, 404, 410, 429, 503),
        name=f"{owner}_{relation}",
    )
    async def related(
        record_id: Annotated[str, Path(max_length=120)],
        request: Request,
        proxy: ProxyDep,
        search: SearchDep,
        actor: Caller,
        params: Params,
    ) -> Response:
        # The owning record answers first: related records of an unknown or deleted one are
        # its 404 or 410, as the record itself says (and `ror:…` names it too).
        owner_record = await proxy.send(
            owner, "GET", f"/{owner}/{encoded_segment(record_id)}", actor
        )
        if owner_record.status_code != 200:
            return relay(owner_record, request.url.path)
        schema, clause = _related(library, field, orjson.loads(owner_record.content)["id"])
        return UnicodeJSONResponse(await search.list(schema, params, actor, base_filters=(clause,)))


for _owner, _relation in RELATED:
    related_route(_owner, _relation)
