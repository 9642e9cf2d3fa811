"""HTTP routes of the events service (called by the gateway with the internal token)."""

from __future__ import annotations

from services.events.dependencies import get_event_service
from services.events.library import LIBRARY
from services.events.schemas import SCHEMAS
from services.kernel.record_routes import RecordRoutes

ROUTES = RecordRoutes(
    LIBRARY,
    get_event_service,
    SCHEMAS,
    checks_description="Organisers, participants and outcomes named must exist (an outcome: "
    "one the caller may see)",
)
