"""HTTP routes of the institutions service (called by the gateway with the internal token)."""

from __future__ import annotations

from services.institutions.dependencies import get_institution_service
from services.institutions.library import LIBRARY
from services.institutions.schemas import (
    InstitutionCreate,
    InstitutionFields,
    InstitutionPatch,
    InstitutionRead,
)
from services.kernel.record_routes import RecordRoutes, record_router

ROUTES = RecordRoutes(
    library=LIBRARY,
    service=get_institution_service,
    read=InstitutionRead,
    create=InstitutionCreate,
    patch=InstitutionPatch,
    fields=InstitutionFields,
)

router = record_router(ROUTES)
