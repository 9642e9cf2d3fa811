"""The routes every record service has, made once: list, create, upsert, bulk, get, patch,
delete (called by the gateway with the internal token).

A service states what is its own — its schemas, how a record is shown to a caller, the
problems each route may answer, a sentence or two for the docs — in a `RecordRoutes`, and
`record_router` builds the routes from it; the rules live in the service's `service.py`.
The gateway's twin is `gateway/endpoints/records.py`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from typing import Any

from fastapi import APIRouter
from fastapi import Depends
from fastapi import Path
from fastapi import Request
from fastapi import Response
from fastapi import status
from pydantic import BaseModel

from services.kernel.bulk import BULK_DESCRIPTION
from services.kernel.bulk import NDJSON_REQUEST_BODY
from services.kernel.bulk import BulkResponse
from services.kernel.bulk import parse_lines
from services.kernel.bulk import read_body
from services.kernel.concurrency import IfMatch
from services.kernel.concurrency import etag_for
from services.kernel.errors import problem_responses
from services.kernel.fields import RecordSchemas
from services.kernel.history import HistoryPage
from services.kernel.history import HistoryParams
from services.kernel.idempotency import IdempotencyKey
from services.kernel.internal_auth import Actor
from services.kernel.internal_auth import Admin
from services.kernel.internal_auth import InternalCaller
from services.kernel.internal_auth import Writer
from services.kernel.library import LibraryFacts
from services.kernel.pagination import ListEnvelope
from services.kernel.pagination import ListQuery
from services.kernel.records import RecordMixin
from services.kernel.routes import UPSERT_DESCRIPTION
from services.kernel.routes import ExternalIdPath
from services.kernel.routes import SourcePath
from services.kernel.routes import upsert_responses
from services.kernel.routes import upserted


def _validated(model: type[BaseModel]) -> Callable[[Any, Actor], BaseModel]:
    return lambda record, _actor: model.model_validate(record)


_HIDDEN_IS_MISSING = "A record the caller may not see is a 404, like one that does not exist."


@dataclass(frozen=True)
class RecordRoutes:
    """What a record service's routes need to know that is its own."""

    library: LibraryFacts
    # The FastAPI dependency that builds the request's service.
    service: Callable[..., Any]
    schemas: RecordSchemas
    # A record as this caller may see it (contact details left out for some); validated as
    # `read` / `listed` by default.
    show: Callable[[Any, Actor], BaseModel] | None = None
    # Fields only signed-in callers get (an expert's e-mail and phone); never in the index.
    restricted_fields: tuple[str, ...] = ()
    # The longest `{ref}` accepted; `ref_is_path` when an external ID holds a slash (a DOI).
    ref_max_length: int = 120
    ref_is_path: bool = False
    # Sentences for the docs; the defaults say what visibility does where records have it.
    list_summary: str | None = None
    read_summary: str | None = None
    read_description: str | None = None
    # What a write checks with other services, e.g. "Affiliations must name existing
    # institutions"; said on create and bulk.
    checks_description: str | None = None

    @property
    def peer_problems(self) -> tuple[int, ...]:
        """A write that checks other libraries' records can find their service down (503)."""
        asks_peers = self.library.open_references or any(
            link.target != self.library.name for link in self.library.links
        )
        return (503,) if asks_peers else ()

    @property
    def write_problems(self) -> tuple[int, ...]:
        return (400, 401, 403, 409, 413, 422, *self.peer_problems)

    @property
    def delete_problems(self) -> tuple[int, ...]:
        """A record still named elsewhere is refused (409), asked of their services (503)."""
        guarded = (409, 503) if self.library.refuse_referenced_deletes else ()
        return (401, 403, 404, *guarded, 410, 412, 428)

    def shown(self, record: Any, actor: Actor) -> BaseModel:
        return (self.show or _validated(self.schemas.read))(record, actor)

    def shown_listed(self, record: Any, actor: Actor) -> BaseModel:
        if self.schemas.listed is not None:
            return self.schemas.listed.model_validate(record)
        return self.shown(record, actor)


def record_router(spec: RecordRoutes) -> APIRouter:
    """The seven routes of a record service at `/{library}`."""
    library = spec.library
    plural, singular = library.name, library.entity
    label = singular.replace("_", " ")
    router = APIRouter(prefix=f"/{plural}", tags=[f"{plural} ({library.label})"])
    external = ", ".join(f"`{example}`" for example in library.external_ids)
    ways = ["ID", *(example.split(":", 1)[0] + ":" for example in library.external_ids)]
    by = ways[0] if len(ways) == 1 else f"{', '.join(ways[:-1])} or {ways[-1]}"
    Ref = Annotated[
        str,
        Path(
            description=f"`{library.id_prefix}_…` ID"
            + (f", or an external ID: {external}." if external else "."),
            max_length=spec.ref_max_length,
        ),
    ]
    one = "/{ref:path}" if spec.ref_is_path else "/{ref}"
    # Where records have their own visibility, the docs say whose they are.
    if_seen = "" if library.all_public else ", if the caller may see it"

    def seen(plural: str) -> str:
        return plural if library.all_public else f"the {plural} the caller may see"

    Service = Annotated[Any, Depends(spec.service)]
    # The library's models, known only at run time: typed Any so that they may annotate the
    # routes' bodies, from which FastAPI reads them.
    listed_model: Any = spec.schemas.listed or spec.schemas.read
    read_model: Any = spec.schemas.read
    fields_model: Any = spec.schemas.fields
    create_model: Any = spec.schemas.create
    patch_model: Any = spec.schemas.patch

    def _read(record: RecordMixin, actor: Actor, response: Response) -> BaseModel:
        response.headers["ETag"] = etag_for(record.version)
        return spec.shown(record, actor)

    @router.get(
        "",
        response_model=ListEnvelope[listed_model],
        summary=spec.list_summary or f"List {seen(plural)} in ID order (keyset paging)",
        responses=problem_responses(400, 401, 422),
        name=f"list_{plural}",
    )
    async def list_records(
        service: Service, caller: InternalCaller, query: ListQuery
    ) -> ListEnvelope[Any]:
        records = await service.list(
            caller, after=query.after, limit=query.page_size, ids=query.ids
        )
        return ListEnvelope[listed_model](
            meta=query.meta(records),
            results=[spec.shown_listed(r, caller) for r in records],
        )

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=read_model,
        summary=f"Create {_article(label)} {label}",
        description=spec.checks_description
        and f"{spec.checks_description} (503 with "
        "Retry-After if a service it asks cannot answer, and nothing is written).",
        responses=problem_responses(*spec.write_problems),
        name=f"create_{singular}",
    )
    async def create_record(
        body: create_model,
        service: Service,
        actor: Writer,
        response: Response,
        idempotency: IdempotencyKey,
    ) -> Response:
        record = await service.create(body, actor)
        response.headers["Location"] = f"/{plural}/{record.id}"
        return await idempotency.answer(_read(record, actor, response), response, status_code=201)

    @router.put(
        "/sources/{source}/{external_id}",
        response_model=read_model,
        summary=f"Create or replace the {label} keyed by (source, external_id)",
        description=UPSERT_DESCRIPTION,
        responses=upsert_responses(read_model, *spec.write_problems),
        name=f"upsert_{singular}",
    )
    async def upsert_record(
        source: SourcePath,
        external_id: ExternalIdPath,
        body: fields_model,
        service: Service,
        actor: Writer,
        response: Response,
    ) -> BaseModel:
        record, result = await service.upsert(source, external_id, body, actor)
        upserted(response, result, f"/{plural}/{record.id}")
        return _read(record, actor, response)

    @router.post(
        "/bulk",
        response_model=BulkResponse,
        summary=f"Upsert {plural} from NDJSON lines keyed by (source, external_id) (admin)",
        description=BULK_DESCRIPTION
        + (
            f" {spec.checks_description} (checked once for the whole body; 503 with "
            "Retry-After if a service it asks cannot answer, and nothing is written)."
            if spec.checks_description
            else ""
        ),
        openapi_extra=NDJSON_REQUEST_BODY,
        responses=problem_responses(400, 401, 403, 413, 415, *spec.peer_problems),
        name=f"bulk_{plural}",
    )
    async def bulk_records(
        request: Request,
        service: Service,
        actor: Admin,
        response: Response,
        idempotency: IdempotencyKey,
    ) -> Response:
        lines = parse_lines(await read_body(request), fields_model)
        result = await service.bulk_upsert(lines, actor)
        return await idempotency.answer(result, response, status_code=200)

    # Before the record's own route: a path-shaped ref (a DOI) would take `/history` too.
    @router.get(
        f"{one}/history",
        response_model=HistoryPage,
        summary=f"Who changed {_article(label)} {label} and what, newest first",
        description="For admins and the editors of the organisation that owns the record; "
        "anyone else who may see it gets a 403, and a record they may not see is a 404.",
        responses=problem_responses(400, 401, 403, 404, 410, 422),
        name=f"history_of_{singular}",
    )
    async def read_record_history(
        ref: Ref,
        service: Service,
        caller: InternalCaller,
        query: HistoryParams,
    ) -> HistoryPage:
        return await service.history(await service.get(ref, caller), caller, query)

    @router.get(
        one,
        response_model=read_model,
        summary=spec.read_summary or f"Read one {label} (by {by}){if_seen}",
        description=spec.read_description or (None if library.all_public else _HIDDEN_IS_MISSING),
        responses=problem_responses(400, 401, 404, 410),
        name=f"get_{singular}",
    )
    async def get_record(
        ref: Ref, service: Service, caller: InternalCaller, response: Response
    ) -> BaseModel:
        return _read(await service.get(ref, caller), caller, response)

    @router.patch(
        one,
        response_model=read_model,
        summary=f"Update {_article(label)} {label} (JSON merge patch, If-Match required)",
        responses=problem_responses(*spec.write_problems, 404, 410, 412, 428),
        name=f"patch_{singular}",
    )
    async def patch_record(
        ref: Ref,
        body: patch_model,
        service: Service,
        actor: Writer,
        response: Response,
        if_match: IfMatch = None,
    ) -> BaseModel:
        record = await service.update(ref, body.changes(), if_match, actor)
        return _read(record, actor, response)

    @router.delete(
        one,
        status_code=status.HTTP_204_NO_CONTENT,
        summary=f"Delete {_article(label)} {label} (If-Match required; leaves a tombstone)",
        responses=problem_responses(*spec.delete_problems),
        name=f"delete_{singular}",
    )
    async def delete_record(
        ref: Ref, service: Service, actor: Writer, if_match: IfMatch = None
    ) -> Response:
        await service.delete(ref, if_match, actor)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
