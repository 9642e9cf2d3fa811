"""Errors specific to the outcome library."""

from __future__ import annotations

from collections.abc import Sequence

from services.kernel.errors import Conflict, FieldError, Gone, NotFound, ValidationFailed


class OutcomeNotFound(NotFound):
    # Also the answer for a record the caller may not see: its existence is not confirmed.
    def __init__(self, ref: str) -> None:
        super().__init__(f"No outcome {ref[:120]!r}; check the ID (out_…) or the doi:….")


class OutcomeDeleted(Gone):
    def __init__(self, ref: str) -> None:
        super().__init__(f"Outcome {ref[:120]!r} was deleted; its ID is not reused.")


class UnknownReferences(ValidationFailed):
    """Fields name experts or institutions their services do not know."""

    def __init__(self, problems: Sequence[tuple[tuple[str | int, ...], str]]) -> None:
        errors = [
            FieldError(("body", *loc), message, "unknown_reference") for loc, message in problems
        ]
        first = ".".join(str(p) for p in problems[0][0])
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{first}: {problems[0][1]}{more}", errors=errors)


class DuplicateIdentifier(Conflict):
    def __init__(self, field: str, value: str, existing_id: str | None) -> None:
        # existing_id is None when the caller may not see that record: it is not named.
        owner = f"outcome {existing_id}" if existing_id else "another outcome"
        message = f"{field} {value!r} already belongs to {owner}"
        super().__init__(
            f"{message}; update that record instead, or correct the {field}.",
            errors=[FieldError(("body", field), message, "duplicate")],
        )
