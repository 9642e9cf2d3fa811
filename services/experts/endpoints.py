"""HTTP routes of the experts service (called by the gateway with the internal token)."""

from __future__ import annotations

from services.experts.dependencies import get_expert_service
from services.experts.library import LIBRARY
from services.experts.models import Expert
from services.experts.schemas import RESTRICTED_FIELDS
from services.experts.schemas import SCHEMAS
from services.experts.schemas import ExpertRead
from services.kernel.internal_auth import Actor
from services.kernel.internal_auth import Role
from services.kernel.record_routes import RecordRoutes


def _shown(record: Expert, actor: Actor) -> ExpertRead:
    # Contact details go to every signed-in role (reader and up, and the platform itself).
    return ExpertRead.from_record(record, include_restricted=actor.role is not Role.ANONYMOUS)


ROUTES = RecordRoutes(
    LIBRARY,
    get_expert_service,
    SCHEMAS,
    show=_shown,
    restricted_fields=RESTRICTED_FIELDS,
    read_description="`email` and `phone` are included for signed-in callers and left out "
    "entirely for anonymous ones.",
    checks_description="Affiliations must name existing institutions",
)
