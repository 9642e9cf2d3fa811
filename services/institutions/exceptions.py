"""Errors specific to the institution library."""

from __future__ import annotations

from collections.abc import Mapping

from services.kernel.errors import Conflict
from services.kernel.errors import FieldError
from services.kernel.errors import ValidationFailed


class InvalidReference(ValidationFailed):
    """A field names an institution that does not exist, or would make the hierarchy a loop."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", errors=[FieldError(("body", field), message)])


# How the 409 of a refused delete names each kind of referring record.
REFERRER_LABELS = {
    "children": "child institution(s)",
    "merged": "institution(s) merged into it",
    "experts": "expert(s) affiliated with it",
    "outcomes": "outcome(s) naming it",
    "datasets": "special-database record(s) referring to it",
}


def _referrers(kind: str, count: int) -> str:
    """`3 expert(s) affiliated with it`; a library without its own words says its name."""
    return f"{count} {REFERRER_LABELS.get(kind) or f'{kind} record(s) naming it'}"


class HasDependents(Conflict):
    """Records still refer to the institution: deleting it would leave them dangling."""

    def __init__(self, record_id: str, counts: Mapping[str, int]) -> None:
        named = {kind: count for kind, count in counts.items() if count}
        listing = ", ".join(_referrers(kind, count) for kind, count in named.items())
        super().__init__(
            f"Institution {record_id} is still referred to by {listing}. Point them at another "
            "institution first, or keep this one and mark it merged (status 'merged' with "
            "merged_into) or inactive.",
            errors=[
                FieldError(("references", kind), _referrers(kind, count), "referenced")
                for kind, count in named.items()
            ],
        )
