"""Pieces of the routes every domain service has: the upsert by `(source, external_id)`."""

from __future__ import annotations

from typing import Annotated
from typing import Any

from fastapi import Path
from fastapi import Response
from fastapi import status
from pydantic import BaseModel

from services.kernel.errors import problem_responses
from services.kernel.fields import ExternalKey
from services.kernel.fields import SourceKey
from services.kernel.ownership import UpsertResult

# `PUT …/sources/{source}/{external_id}`: the key an import gives a record, cleaned by the
# same rule as `source` and `external_id` in a body or a bulk line (one key, one record).
SourcePath = Annotated[SourceKey, Path(description="Where the record comes from, e.g. an import.")]
ExternalIdPath = Annotated[ExternalKey, Path(description="The record's ID in `source`.")]

UPSERT_DESCRIPTION = (
    "Idempotent: sending the same body twice leaves one record and one version. "
    "The `Zhihui-Upsert` header says `created`, `updated` or `unchanged`. Keys belong to the "
    "owning organisation (`owner_org`, the caller's by default): another organisation's "
    "`(source, external_id)` is another record. Keys are cleaned as in bodies: `１７` and `17` "
    "with a zero-width space are `17`."
)


def upsert_responses(read_model: type[BaseModel], *problems: int) -> dict[int | str, Any]:
    """An upsert's documented answers: 200 replaced or unchanged, 201 created, the problems."""
    return {
        201: {"model": read_model, "description": "Created: a new record (`Location` names it)"},
        **problem_responses(*problems),
    }


def upserted(response: Response, result: UpsertResult, location: str) -> None:
    """`Zhihui-Upsert` says what an upsert did; a record it created is a 201 at `location`."""
    response.headers["Zhihui-Upsert"] = result.value
    if result is UpsertResult.CREATED:
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = location
