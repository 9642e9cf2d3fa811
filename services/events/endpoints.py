"""HTTP routes of the events service (called by the gateway with the internal token)."""

from __future__ import annotations

from services.events.dependencies import get_event_service
from services.events.library import LIBRARY
from services.events.schemas import EventCreate, EventFields, EventPatch, EventRead
from services.kernel.record_routes import RecordRoutes, record_router

ROUTES = RecordRoutes(
    library=LIBRARY,
    service=get_event_service,
    read=EventRead,
    create=EventCreate,
    patch=EventPatch,
    fields=EventFields,
    list_summary="List the events the caller may see, in ID order (keyset paging)",
    read_summary="Read one event, if the caller may see it",
    read_description="A record the caller may not see is a 404, like one that does not exist.",
    checks_description="Organisers, participants and outcomes named must exist (an outcome: "
    "one the caller may see)",
)

router = record_router(ROUTES)
