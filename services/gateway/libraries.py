"""The libraries the gateway serves: path, owning service, schemas for the docs, and shaping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from services.gateway.proxy import RecordShaper
from services.institutions import schemas as institution_schemas
from services.kernel.internal_auth import Actor


def shape_public_record(_actor: Actor, record: dict[str, Any]) -> dict[str, Any] | None:
    """Libraries whose records are all public and carry no restricted fields."""
    return record


@dataclass(frozen=True, slots=True)
class Library:
    name: str
    label: str
    service: str
    id_prefix: str
    read_schema: type[BaseModel]
    create_schema: type[BaseModel]
    patch_schema: type[BaseModel]
    upsert_schema: type[BaseModel]
    shape: RecordShaper
    # Whether a record's visibility must be checked before a write is forwarded.
    has_visibility: bool = False
    external_ids: str = ""


INSTITUTIONS = Library(
    name="institutions",
    label="机构库",
    service="institutions",
    id_prefix="ins",
    read_schema=institution_schemas.InstitutionRead,
    create_schema=institution_schemas.InstitutionCreate,
    patch_schema=institution_schemas.InstitutionPatch,
    upsert_schema=institution_schemas.InstitutionFields,
    shape=shape_public_record,
    external_ids="`ror:03cve4549`, `uscc:12100000400000624D`",
)

LIBRARIES: tuple[Library, ...] = (INSTITUTIONS,)
