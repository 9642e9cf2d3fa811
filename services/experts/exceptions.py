"""Errors specific to the expert library."""

from __future__ import annotations

from collections.abc import Sequence

from services.kernel.errors import FieldError
from services.kernel.errors import ValidationFailed


class UnknownInstitutions(ValidationFailed):
    """Affiliations name institutions the institutions service does not know (or deleted)."""

    def __init__(self, missing: Sequence[tuple[int, str]]) -> None:
        errors = [
            FieldError(
                ("body", "affiliations", index, "institution_id"),
                f"no institution {institution_id!r} (unknown or deleted)",
                "unknown_reference",
            )
            for index, institution_id in missing
        ]
        where = ", ".join(f"affiliations.{i}.institution_id" for i, _ in missing[:3])
        super().__init__(
            f"{where}: no such institution; create it in the institution library first, "
            "or correct the ID (look it up with GET /institutions?q=…).",
            errors=errors,
        )
