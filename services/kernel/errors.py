"""One error hierarchy for the platform, rendered as RFC 9457 `application/problem+json`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import ClassVar

import orjson
from fastapi import FastAPI
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from services.kernel.context import current_request_id

logger = logging.getLogger("zhihui.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "/problems/"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field; `loc` is the path to it, e.g. ("body", "uscc")."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"

    def as_dict(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


class ProblemError(Exception):
    """Base of every error a caller may see; subclasses fix the status, type and title."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})


class BadRequest(ProblemError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(ProblemError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(ProblemError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", "Conflict"


class DuplicateIdentifier(Conflict):
    """An identifier (a DOI, an ORCID, an import key) already names another live record."""

    def __init__(self, entity: str, field: str, value: str, existing_id: str | None) -> None:
        # existing_id is None when the caller may not see that record: it is not named.
        what = entity.replace("_", " ")
        holder = f"{what} {existing_id}" if existing_id else f"another {what}"
        message = f"{field} {value!r} already belongs to {holder}"
        super().__init__(
            f"{message}; update that record instead, or correct the {field}.",
            errors=[FieldError(("body", field), message, "duplicate")],
        )


class Gone(ProblemError):
    status, slug, title = 410, "gone", "Deleted"


class PreconditionFailed(ProblemError):
    status, slug, title = 412, "precondition-failed", "The record changed since you read it"


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class HeadersTooLarge(ProblemError):
    status, slug, title = 431, "headers-too-large", "Request headers too large"


class UnsupportedMediaType(ProblemError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(ProblemError):
    status, slug, title = 422, "validation-error", "Invalid input"


class UnknownReferences(ValidationFailed):
    """Fields name records (experts, institutions, …) their services do not know."""

    def __init__(self, problems: Sequence[tuple[tuple[str | int, ...], str]]) -> None:
        errors = [
            FieldError(("body", *loc), message, "unknown_reference") for loc, message in problems
        ]
        first = ".".join(str(p) for p in problems[0][0])
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{first}: {problems[0][1]}{more}", errors=errors)


class PreconditionRequired(ProblemError):
    status, slug, title = 428, "precondition-required", "If-Match header required"


class TooManyRequests(ProblemError):
    status, slug, title = 429, "rate-limited", "Too many requests"


class ServiceUnavailable(ProblemError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"


def problem_body(
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str,
    errors: Sequence[FieldError] = (),
) -> dict[str, Any]:
    """The problem+json document; `request_id` lets support find the log lines."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": current_request_id(),
    }
    if errors:
        body["errors"] = [e.as_dict() for e in errors]
    return body


def problem_response(
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = problem_body(
        status=status, slug=slug, title=title, detail=detail, instance=instance, errors=errors
    )
    return Response(
        content=orjson.dumps(body),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def _instance(request: Request) -> str:
    return request.url.path


async def _handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    if exc.status >= 500:
        logger.error("problem %s: %s", exc.slug, exc.detail)
    return problem_response(
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        instance=_instance(request),
        errors=exc.errors,
        headers=exc.headers,
    )


def _loc(raw: Sequence[Any]) -> tuple[str | int, ...]:
    return tuple(x if isinstance(x, int) else str(x) for x in raw)


def field_errors_from_pydantic(errors: Sequence[Mapping[str, Any]]) -> list[FieldError]:
    """Pydantic's error list as FieldErrors, without echoing the rejected input back."""
    result = []
    for err in errors:
        msg = str(err.get("msg", "invalid value"))
        # Pydantic prefixes messages of custom validators with "Value error, ".
        msg = msg.removeprefix("Value error, ")
        result.append(FieldError(_loc(err.get("loc", ())), msg, str(err.get("type", "value"))))
    return result


def summarise_errors(errors: Sequence[FieldError]) -> str:
    """A one-line detail naming the first few fields and what is wrong with them."""
    parts = []
    for err in errors[:3]:
        where = ".".join(str(p) for p in err.loc if p not in ("body", "query", "path", "header"))
        parts.append(f"{where or 'request'}: {err.msg}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


def validation_failed(
    exc: PydanticValidationError, *, prefix: tuple[str, ...] = ("body",)
) -> ValidationFailed:
    """A 422 for a model validated inside a service (e.g. a record after a merge patch)."""
    errors = field_errors_from_pydantic([{**e, "loc": (*prefix, *e["loc"])} for e in exc.errors()])
    return ValidationFailed(summarise_errors(errors), errors=errors)


async def _handle_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in raw):
        first = next(e for e in raw if e.get("type") == "json_invalid")
        ctx = first.get("ctx") or {}
        return problem_response(
            status=400,
            slug="malformed-json",
            title="Malformed JSON",
            detail=f"The request body is not valid JSON ({ctx.get('error', 'parse error')}); "
            "send a UTF-8 JSON document.",
            instance=_instance(request),
            errors=[FieldError(("body",), "invalid JSON", "json_invalid")],
        )
    errors = field_errors_from_pydantic(raw)
    return problem_response(
        status=422,
        slug=ValidationFailed.slug,
        title=ValidationFailed.title,
        detail=summarise_errors(errors),
        instance=_instance(request),
        errors=errors,
    )


_HTTP_SLUGS = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


async def _handle_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    cls = _HTTP_SLUGS.get(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No route {request.method} {request.url.path}; see /docs for the API."
    if exc.status_code == 405:
        detail = f"{request.method} is not supported on {request.url.path}; see /docs."
    return problem_response(
        status=exc.status_code,
        slug=cls.slug if cls else "http-error",
        title=cls.title if cls else "HTTP error",
        detail=detail,
        instance=_instance(request),
        headers=getattr(exc, "headers", None),
    )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what caused it, down the chain (a driver error's `orig` first)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else (
            current.__cause__ or current.__context__
        )  # fmt: skip


def _sqlstate(exc: BaseException) -> str:
    return str(getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None) or "")


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the database cannot be reached right now: a
    refused or cut connection, a server shutting down or restarting, an exhausted pool."""
    for current in _causes(exc):
        if isinstance(current, (PoolTimeout, OperationalError, InterfaceError, ConnectionError)):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        # SQLSTATE class 08 (connection exception), 57P0x (admin/crash shutdown, starting up),
        # and a lock or statement timeout set by the request's deadline (55P03, 57014).
        sqlstate = _sqlstate(current)
        if sqlstate.startswith(("08", "57P")) or sqlstate in ("55P03", "57014"):
            return True
    return False


def database_refused_value(exc: BaseException) -> bool:
    """Whether the database refused a value as data (SQLSTATE class 22: out of range, not
    representable, a NUL in text): the request's fault, which validation should have caught."""
    return any(_sqlstate(current).startswith("22") for current in _causes(exc))


async def _handle_database(request: Request, exc: Exception) -> Response:
    if database_unavailable(exc):
        return _database_unavailable(request, exc)
    if database_refused_value(exc):
        # Validation is meant to stop these first; if one slips through it is still the
        # caller's value, so a 422 (never a 500 that the gateway would turn into "retry").
        logger.warning(
            "database refused a value on %s %s: %r", request.method, request.url.path, exc
        )
        return problem_response(
            status=ValidationFailed.status,
            slug=ValidationFailed.slug,
            title=ValidationFailed.title,
            detail="A value in the request cannot be stored (out of range, or characters "
            "that cannot be kept); correct it and send the request again.",
            instance=_instance(request),
        )
    return await _handle_unexpected(request, exc)


def _database_unavailable(request: Request, exc: Exception) -> Response:
    # A database restart or failover: retryable, so a 503 rather than a 500. Registered for
    # the database errors too (not only the catch-all) so the client's connection stays open.
    logger.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
    return problem_response(
        status=ServiceUnavailable.status,
        slug=ServiceUnavailable.slug,
        title=ServiceUnavailable.title,
        detail="The database is unavailable at the moment; retry shortly.",
        instance=_instance(request),
        headers={"Retry-After": "1"},
    )


async def _handle_unexpected(request: Request, exc: Exception) -> Response:
    if database_unavailable(exc):  # raised outside the routes, e.g. in a middleware
        return _database_unavailable(request, exc)
    # Full traceback to the log (with the request id); never to the caller.
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        status=500,
        slug=ProblemError.slug,
        title=ProblemError.title,
        detail="An unexpected error occurred; quote the request_id when reporting it.",
        instance=_instance(request),
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through problem+json."""
    app.add_exception_handler(ProblemError, _handle_problem)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    for database_error in (DBAPIError, PoolTimeout, ConnectionError):
        app.add_exception_handler(database_error, _handle_database)
    app.add_exception_handler(Exception, _handle_unexpected)
    _document_validation_errors_as_problems(app)


def _document_validation_errors_as_problems(app: FastAPI) -> None:
    """FastAPI documents its own JSON body for the 422s it adds; ours are problem+json."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        document = build()
        for operation in (op for path in document["paths"].values() for op in path.values()):
            response = operation.get("responses", {}).get("422") if first else None
            if response and PROBLEM_MEDIA_TYPE not in response.get("content", {}):
                response["description"] = ValidationFailed.title
                response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}
        return document

    # Replacing `app.openapi` is FastAPI's documented way to extend the schema.
    app.openapi = openapi  # type: ignore[method-assign]


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; `detail` says how to fix the request.",
    "properties": {
        "type": {"type": "string", "example": "/problems/validation-error"},
        "title": {"type": "string", "example": "Invalid input"},
        "status": {"type": "integer", "example": 422},
        "detail": {"type": "string", "example": "uscc: check character should be 'D'"},
        "instance": {"type": "string", "example": "/institutions"},
        "request_id": {"type": "string", "example": "9f1c2b7e4d3a4f0e"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the problem+json errors a route can return."""
    titles = {c.status: c.title for c in ProblemError.__subclasses__()}
    titles[400] = "Bad request or malformed JSON"
    return {
        status: {
            "description": titles.get(status, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }
