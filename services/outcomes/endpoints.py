"""HTTP routes of the outcomes service (called by the gateway with the internal token)."""

from __future__ import annotations

from services.kernel.record_routes import RecordRoutes, record_router
from services.outcomes.dependencies import get_outcome_service
from services.outcomes.library import LIBRARY
from services.outcomes.schemas import (
    OutcomeCreate,
    OutcomeFields,
    OutcomePatch,
    OutcomeRead,
    OutcomeSummary,
)

ROUTES = RecordRoutes(
    library=LIBRARY,
    service=get_outcome_service,
    read=OutcomeRead,
    create=OutcomeCreate,
    patch=OutcomePatch,
    fields=OutcomeFields,
    listed=OutcomeSummary,
    # A DOI always holds a slash (doi:10.1234/abc), and may be long.
    ref_max_length=400,
    ref_is_path=True,
    list_summary="List the outcomes the caller may see, in ID order (keyset paging; no full texts)",
    read_summary="Read one outcome (by ID or doi:), if the caller may see it",
    read_description="A record the caller may not see is a 404, like one that does not exist.",
    checks_description="Experts and institutions named must exist",
)

router = record_router(ROUTES)
