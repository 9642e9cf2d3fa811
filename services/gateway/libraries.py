"""The libraries the gateway serves: path, owning service, schemas for the docs, and shaping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path
from pydantic import BaseModel

from services.datasets import library as datasets_library
from services.datasets import schemas as dataset_schemas
from services.experts import library as experts_library
from services.experts import schemas as expert_schemas
from services.gateway.listing import ExpertListed, OutcomeListed
from services.gateway.proxy import RecordShaper
from services.institutions import library as institutions_library
from services.institutions import schemas as institution_schemas
from services.kernel.internal_auth import Actor, Role
from services.kernel.library import LibraryFacts
from services.kernel.visibility import can_see
from services.outcomes import library as outcomes_library
from services.outcomes import schemas as outcome_schemas

MIB = 1024 * 1024


def shape_public_record(_actor: Actor, record: dict[str, Any]) -> dict[str, Any] | None:
    """Libraries whose records are all public and carry no restricted fields."""
    return record


def shape_expert(actor: Actor, record: dict[str, Any]) -> dict[str, Any] | None:
    """Experts are public; their contact details only for reader keys and above."""
    if actor.role is Role.ANONYMOUS:
        return {k: v for k, v in record.items() if k not in expert_schemas.RESTRICTED_FIELDS}
    return record


def shape_outcome(actor: Actor, record: dict[str, Any]) -> dict[str, Any] | None:
    """Outcomes carry their own visibility: an invisible one does not exist for the caller."""
    if not can_see(actor, str(record.get("visibility")), record.get("owner_org")):
        return None
    return record


def dataset_slug(
    slug: Annotated[
        str, Path(max_length=64, description="The special database, e.g. `nsfc-disciplines`.")
    ],
) -> str:
    """Documents (and bounds) the `{slug}` in dataset record paths."""
    return slug


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
    # Schema of one list entry (a summary may leave out long fields).
    list_schema: type[BaseModel] | None = None
    # Whether a record's visibility must be checked before a write is forwarded.
    has_visibility: bool = False
    external_ids: str = ""
    # Largest request body accepted on this library's routes.
    max_body_bytes: int = 1 * MIB
    # Public path below /api/v1 (the service path is the same); defaults to `name`.
    route: str | None = None
    path_dependencies: tuple[Any, ...] = ()

    @property
    def path(self) -> str:
        return self.route or self.name

    @classmethod
    def of(cls, library: LibraryFacts, **api: Any) -> Library:
        """A record library as declared (name, label, ID prefix, external IDs) and its API."""
        return cls(
            name=library.name,
            label=library.label,
            service=library.name,
            id_prefix=library.id_prefix,
            external_ids=", ".join(f"`{example}`" for example in library.external_ids),
            **api,
        )


INSTITUTIONS = Library.of(
    institutions_library.LIBRARY,
    read_schema=institution_schemas.InstitutionRead,
    create_schema=institution_schemas.InstitutionCreate,
    patch_schema=institution_schemas.InstitutionPatch,
    upsert_schema=institution_schemas.InstitutionFields,
    shape=shape_public_record,
)

EXPERTS = Library.of(
    experts_library.LIBRARY,
    read_schema=expert_schemas.ExpertRead,
    create_schema=expert_schemas.ExpertCreate,
    patch_schema=expert_schemas.ExpertPatch,
    upsert_schema=expert_schemas.ExpertFields,
    shape=shape_expert,
    list_schema=ExpertListed,
)

OUTCOMES = Library.of(
    outcomes_library.LIBRARY,
    read_schema=outcome_schemas.OutcomeRead,
    create_schema=outcome_schemas.OutcomeCreate,
    patch_schema=outcome_schemas.OutcomePatch,
    upsert_schema=outcome_schemas.OutcomeFields,
    shape=shape_outcome,
    list_schema=OutcomeListed,
    has_visibility=True,
    max_body_bytes=8 * MIB,  # full texts such as a 政府工作报告
)

DATASET_RECORDS = Library(
    name="dataset records",
    label="特色数据库记录",
    service=datasets_library.LIBRARY.name,
    id_prefix=datasets_library.LIBRARY.other_prefixes[0],
    read_schema=dataset_schemas.RecordRead,
    create_schema=dataset_schemas.RecordCreate,
    patch_schema=dataset_schemas.RecordPatch,
    upsert_schema=dataset_schemas.RecordFields,
    # The datasets service applies the dataset's visibility (404 when invisible); the pre-check
    # before writes keeps a foreign editor from learning that a hidden dataset's record exists.
    shape=shape_public_record,
    has_visibility=True,
    route="datasets/{slug}/records",
    path_dependencies=(Depends(dataset_slug),),
)

LIBRARIES: tuple[Library, ...] = (INSTITUTIONS, EXPERTS, OUTCOMES, DATASET_RECORDS)
