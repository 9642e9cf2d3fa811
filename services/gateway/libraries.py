"""The libraries the gateway serves: path, owning service, schemas for the docs, and shaping.

Derived from each library's declaration, its service's routes and its search facts; only the
special databases' records, served per database, are declared here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from typing import Annotated
from typing import Any

from fastapi import Depends
from fastapi import Path

from services.datasets import library as datasets_library
from services.datasets import schemas as dataset_schemas
from services.gateway.proxy import RecordShaper
from services.gateway.search.libraries import LIBRARY_SEARCHES
from services.kernel.component import ServiceSpec
from services.kernel.fields import RecordSchemas
from services.kernel.internal_auth import Actor
from services.kernel.internal_auth import Role
from services.kernel.library import LibraryDeclarationError
from services.kernel.library import LibraryFacts
from services.kernel.library import library_named
from services.kernel.visibility import can_see
from services.registry import SERVICES

MIB = 1024 * 1024


def shape_public_record(_actor: Actor, record: dict[str, Any]) -> dict[str, Any] | None:
    """Libraries whose records are all public and carry no restricted fields."""
    return record


def record_shaper(library: LibraryFacts, restricted: Sequence[str]) -> RecordShaper:
    """A record as the caller may see it: none if its visibility hides it (a library whose
    records carry their own), and restricted fields (contact details) only for reader keys
    and above."""
    if library.all_public and not restricted:
        return shape_public_record
    hidden = frozenset(restricted)

    def shape(actor: Actor, record: dict[str, Any]) -> dict[str, Any] | None:
        if not library.all_public and not can_see(
            actor, str(record.get("visibility")), record.get("owner_org")
        ):
            return None
        if hidden and actor.role is Role.ANONYMOUS:
            return {k: v for k, v in record.items() if k not in hidden}
        return record

    return shape


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
    # Bodies and answers; a list entry as the gateway lists it (with joined names).
    schemas: RecordSchemas
    shape: RecordShaper
    # Whether a record's visibility must be checked before a write is forwarded.
    has_visibility: bool = False
    external_ids: str = ""
    # Largest request body accepted on this library's routes.
    max_body_bytes: int = 1 * MIB
    # Public path below /api/v1 (the service path is the same); defaults to `name`.
    route: str | None = None
    path_dependencies: tuple[Any, ...] = ()
    # An external ID may hold a slash (a DOI): the ref takes the rest of the path.
    ref_is_path: bool = False
    # Whether `/{ref}/history` is served (the record libraries' services keep it).
    keeps_history: bool = False

    @property
    def path(self) -> str:
        return self.route or self.name

    @classmethod
    def of_service(cls, spec: ServiceSpec) -> Library:
        """A record library as its declaration, its service's routes and its search say."""
        library, routes = library_named(spec.name), spec.routes
        if routes is None:
            raise LibraryDeclarationError(f"{spec.name}: its service declares no record routes")
        search = LIBRARY_SEARCHES.get(spec.name)
        body_limit = spec.settings.model_fields["max_body_bytes"].default
        listed = (search.listed if search else None) or routes.schemas.listed
        return cls(
            name=library.name,
            label=library.label,
            service=library.name,
            id_prefix=library.id_prefix,
            schemas=replace(routes.schemas, listed=listed),
            shape=record_shaper(library, routes.restricted_fields),
            has_visibility=not library.all_public,
            external_ids=", ".join(f"`{example}`" for example in library.external_ids),
            max_body_bytes=body_limit,
            ref_is_path=routes.ref_is_path,
            keeps_history=True,
        )


DATASET_RECORDS = Library(
    name="dataset records",
    label="特色数据库记录",
    service=datasets_library.LIBRARY.name,
    id_prefix=datasets_library.LIBRARY.other_prefixes[0],
    schemas=dataset_schemas.SCHEMAS,
    # The datasets service applies the dataset's visibility (404 when invisible); the pre-check
    # before writes keeps a foreign editor from learning that a hidden dataset's record exists.
    shape=shape_public_record,
    has_visibility=True,
    route="datasets/{slug}/records",
    path_dependencies=(Depends(dataset_slug),),
    keeps_history=True,
)

# Every declared record library, then the special databases' records.
LIBRARIES: tuple[Library, ...] = (
    *(Library.of_service(spec) for spec in SERVICES if spec.routes is not None),
    DATASET_RECORDS,
)
