"""Errors specific to the expert library."""

from __future__ import annotations

from collections.abc import Sequence

from services.kernel.errors import Conflict, FieldError, Gone, NotFound, ValidationFailed


class ExpertNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No expert {ref[:120]!r}; check the ID (exp_…) or orcid:….")


class ExpertDeleted(Gone):
    def __init__(self, ref: str) -> None:
        super().__init__(f"Expert {ref[:120]!r} was deleted; its ID is not reused.")


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


class DuplicateIdentifier(Conflict):
    def __init__(self, field: str, value: str, existing_id: str) -> None:
        message = f"{field} {value!r} already belongs to expert {existing_id}"
        super().__init__(
            f"{message}; update that record instead, or correct the {field}.",
            errors=[FieldError(("body", field), message, "duplicate")],
        )
