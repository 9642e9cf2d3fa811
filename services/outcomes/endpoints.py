"""HTTP routes of the outcomes service (called by the gateway with the internal token)."""

from __future__ import annotations

from services.kernel.record_routes import RecordRoutes
from services.outcomes.dependencies import get_outcome_service
from services.outcomes.library import LIBRARY
from services.outcomes.schemas import SCHEMAS

ROUTES = RecordRoutes(
    LIBRARY,
    get_outcome_service,
    SCHEMAS,
    # A DOI always holds a slash (doi:10.1234/abc), and may be long.
    ref_max_length=400,
    ref_is_path=True,
    list_summary="List the outcomes the caller may see, in ID order (keyset paging; no full texts)",
    checks_description="Experts and institutions named must exist",
)
