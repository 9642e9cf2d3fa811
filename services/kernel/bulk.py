"""`POST /{library}/bulk`: NDJSON upserts keyed by `(source, external_id)`, for imports.

The body is one JSON object per line: `source`, `external_id` and the record's fields. Every
line is answered on its own (`{line, status, id, errors}`): a line that is not JSON, misses
its key, fails validation or is refused by the service's rules is `rejected`, and the others
are written all the same, each in its own SAVEPOINT so a bad line never undoes a good one.
The request as a whole fails only when it cannot be answered line by line: more than
`MAX_BULK_LINES` lines (413), an empty body (400), another media type (415), or a peer
service that is down (503: nothing is written, the caller retries the same batch).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from enum import StrEnum
from typing import Any
from typing import Protocol

import orjson
from fastapi import Request
from pydantic import BaseModel
from pydantic import Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import BadRequest
from services.kernel.errors import Conflict
from services.kernel.errors import FieldError
from services.kernel.errors import PayloadTooLarge
from services.kernel.errors import ProblemError
from services.kernel.errors import UnsupportedMediaType
from services.kernel.errors import field_errors_from_pydantic
from services.kernel.ownership import UpsertResult

MAX_BULK_LINES = 1000
NDJSON_MEDIA_TYPE = "application/x-ndjson"
ACCEPTED_MEDIA_TYPES = frozenset(
    {NDJSON_MEDIA_TYPE, "application/jsonl", "application/x-jsonlines", "application/ndjson"}
)
KEY_FIELDS = ("source", "external_id")

BULK_DESCRIPTION = (
    f"NDJSON (`{NDJSON_MEDIA_TYPE}`), at most {MAX_BULK_LINES} lines: one JSON object per "
    "line with `source`, `external_id` and the record's fields. Each line is an idempotent "
    "upsert keyed by `(source, external_id)` and is answered on its own "
    "(`created`, `updated`, `unchanged` or `rejected` with `errors`); a rejected line never "
    "undoes the others. Blank lines are skipped; `line` counts every line of the body from 1. "
    "Keys belong to each line's `owner_org` (the platform's by default). Send an "
    "`Idempotency-Key` per batch: a batch sent again after a lost answer gets that answer."
)

# The request body as OpenAPI documents it (the route reads the raw body itself).
NDJSON_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            NDJSON_MEDIA_TYPE: {
                "schema": {"type": "string", "format": "binary"},
                "example": '{"source": "cast-2024", "external_id": "17", "name": "清华大学"}\n'
                '{"source": "cast-2024", "external_id": "18", "name": "北京大学"}\n',
            }
        },
    }
}


class LineStatus(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


class LineError(BaseModel):
    loc: list[str | int] = Field(
        description='Path inside the line\'s object, e.g. `["uscc"]`; empty for the line.'
    )
    msg: str
    type: str


class LineResult(BaseModel):
    line: int = Field(description="Line number in the request body, from 1.")
    status: LineStatus
    id: str | None = Field(None, description="The record's ID (not for rejected lines).")
    errors: list[LineError] = Field(default_factory=list)


class BulkSummary(BaseModel):
    lines: int = Field(description="Non-blank lines in the body.")
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0


class BulkResponse(BaseModel):
    results: list[LineResult]
    summary: BulkSummary


@dataclass
class BulkLine:
    """One line of the body: its key and validated fields, or why it is rejected."""

    line: int
    source: str | None = None
    external_id: str | None = None
    data: Any = None
    errors: list[FieldError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and self.data is not None

    @property
    def key(self) -> tuple[str, str]:
        """`(source, external_id)` of a valid line (`ok`: only those are upserted)."""
        assert self.source is not None and self.external_id is not None
        return self.source, self.external_id

    def reject(self, problem: ProblemError) -> None:
        self.errors = problem_errors(problem)


class HasId(Protocol):
    id: str


Upsert = Callable[[BulkLine], Awaitable[tuple[HasId, UpsertResult]]]


def _unprefixed(loc: Sequence[str | int]) -> tuple[str | int, ...]:
    """Error locations relative to the line's object (services name them from `body`)."""
    return tuple(loc[1:]) if loc and loc[0] == "body" else tuple(loc)


def problem_errors(problem: ProblemError) -> list[FieldError]:
    if problem.errors:
        return [FieldError(_unprefixed(e.loc), e.msg, e.type) for e in problem.errors]
    return [FieldError((), problem.detail, problem.slug)]


async def read_body(request: Request) -> bytes:
    """The NDJSON body; 415 for another media type (none given is accepted)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in ACCEPTED_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Send NDJSON ({NDJSON_MEDIA_TYPE}): one JSON object per line, not {content_type[:60]}."
        )
    return await request.body()


def parse_lines(body: bytes, model: type[BaseModel]) -> list[BulkLine]:
    """Split and check the body; `model` (the upsert schema) validates each line."""
    numbered = [
        (number, raw.strip())
        for number, raw in enumerate(body.split(b"\n"), start=1)
        if raw.strip()
    ]
    if not numbered:
        raise BadRequest("The body is empty; send one JSON object per line (NDJSON).")
    if len(numbered) > MAX_BULK_LINES:
        raise PayloadTooLarge(
            f"{len(numbered)} lines in one request; send at most {MAX_BULK_LINES} lines per "
            "bulk request (split the file into batches)."
        )
    return [_parse_line(number, raw, model) for number, raw in numbered]


def _parse_line(number: int, raw: bytes, model: type[BaseModel]) -> BulkLine:
    item = BulkLine(number)
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        item.errors = [
            FieldError(
                (),
                f"line {number} is not valid JSON ({str(exc)[:120]}); send one UTF-8 JSON object "
                "per line",
                "json_invalid",
            )
        ]
        return item
    if not isinstance(obj, dict):
        item.errors = [
            FieldError((), f"line {number} must be a JSON object with source and external_id")
        ]
        return item
    missing = [key for key in KEY_FIELDS if obj.get(key) in (None, "")]
    if missing:
        item.errors = [
            FieldError(
                (key,),
                "required: every bulk line is keyed by source and external_id",
                "missing",
            )
            for key in missing
        ]
        return item
    try:
        data = model.model_validate(obj)
    except PydanticValidationError as exc:
        item.errors = field_errors_from_pydantic(exc.errors())
        return item
    # Every library's upsert schema has the key fields; `model` is only known as a BaseModel.
    item.source, item.external_id, item.data = data.source, data.external_id, data  # type: ignore[attr-defined]
    return item


# Failed lines per request after which the rest go one savepoint each (see upsert_lines).
MAX_TOGETHER_FAILURES = 2
_LINE_FAILURES = (ProblemError, PydanticValidationError)


async def upsert_lines(
    session: AsyncSession, lines: Sequence[BulkLine], upsert: Upsert, *, together: bool = False
) -> BulkResponse:
    """Upsert each valid line so that a refused line rolls back alone.

    4xx problems, validation errors and uniqueness races reject the line; a 5xx (a peer
    service down, the database failing) fails the whole request so the caller retries it.
    Each line gets a SAVEPOINT of its own, unless `together`: then the lines go in one
    savepoint (two round trips per line fewer); when one is refused, that savepoint is
    undone, the lines before it go together again, the refused one alone, and the rest carry
    on together; after `MAX_TOGETHER_FAILURES` refusals the rest get a savepoint each. Only
    for an `upsert` that keeps no state across lines: an undone line is simply sent again.
    """
    answered: dict[int, LineResult] = {}
    valid = [item for item in lines if item.ok]
    position, failures = 0, 0 if together else MAX_TOGETHER_FAILURES
    while position < len(valid):
        if failures >= MAX_TOGETHER_FAILURES:
            for item in valid[position:]:
                await _upsert_alone(session, item, upsert, answered)
            break
        failed = await _upsert_together(session, valid[position:], upsert, answered)
        if failed is None:
            break
        failures += 1
        before = valid[position : position + failed]
        if before and await _upsert_together(session, before, upsert, answered) is not None:
            for item in before:  # not expected: they passed a moment ago
                await _upsert_alone(session, item, upsert, answered)
        await _upsert_alone(session, valid[position + failed], upsert, answered)
        position += failed + 1
    results = [answered.get(item.line) or _rejected(item) for item in lines]
    counts = Counter(r.status for r in results)
    return BulkResponse(
        results=results,
        summary=BulkSummary(
            lines=len(results),
            created=counts[LineStatus.CREATED],
            updated=counts[LineStatus.UPDATED],
            unchanged=counts[LineStatus.UNCHANGED],
            rejected=counts[LineStatus.REJECTED],
        ),
    )


async def _upsert_together(
    session: AsyncSession,
    items: Sequence[BulkLine],
    upsert: Upsert,
    answered: dict[int, LineResult],
) -> int | None:
    """Upsert `items` in one savepoint; None when all passed, else the index of the refused
    line (the whole savepoint undone, nothing answered)."""
    results: list[LineResult] = []
    try:
        async with session.begin_nested():
            for item in items:
                record, outcome = await upsert(item)
                results.append(
                    LineResult(line=item.line, status=LineStatus(outcome.value), id=record.id)
                )
    except _LINE_FAILURES as exc:
        if isinstance(exc, ProblemError) and exc.status >= 500:
            raise
        return len(results)  # the lines before the refused one passed
    answered.update((result.line, result) for result in results)
    return None


async def _upsert_alone(
    session: AsyncSession, item: BulkLine, upsert: Upsert, answered: dict[int, LineResult]
) -> None:
    """Upsert one line in its own savepoint; a refusal is recorded on the line. A line that
    met a conflict (its key just written by a concurrent request) is sent once more: it then
    finds the other's record and answers as a re-run would; a real duplicate stays a 409."""
    for attempt in (1, 2):
        try:
            async with session.begin_nested():
                record, outcome = await upsert(item)
            answered[item.line] = LineResult(
                line=item.line, status=LineStatus(outcome.value), id=record.id
            )
            return
        except Conflict as conflict:
            if attempt == 2:
                item.reject(conflict)
        except ProblemError as problem:
            if problem.status >= 500:
                raise
            item.reject(problem)
            return
        except PydanticValidationError as exc:
            item.errors = field_errors_from_pydantic(exc.errors())
            return


def _rejected(item: BulkLine) -> LineResult:
    return LineResult(
        line=item.line,
        status=LineStatus.REJECTED,
        errors=[LineError(**e.as_dict()) for e in item.errors],
    )
