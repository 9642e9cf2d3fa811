"""HTTP routes of the institutions service (called by the gateway with the internal token)."""

from __future__ import annotations

from services.institutions.dependencies import get_institution_service
from services.institutions.library import LIBRARY
from services.institutions.schemas import SCHEMAS
from services.kernel.record_routes import RecordRoutes

ROUTES = RecordRoutes(LIBRARY, get_institution_service, SCHEMAS)
