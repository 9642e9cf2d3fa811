"""Errors specific to the institution library."""

from __future__ import annotations

from services.kernel.errors import Conflict, FieldError, Gone, NotFound, ValidationFailed


class InstitutionNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No institution {ref[:120]!r}; check the ID (ins_…, ror:…, uscc:…).")


class InstitutionDeleted(Gone):
    def __init__(self, ref: str) -> None:
        super().__init__(f"Institution {ref[:120]!r} was deleted; its ID is not reused.")


class InvalidReference(ValidationFailed):
    """A field names an institution that does not exist, or would make the hierarchy a loop."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", errors=[FieldError(("body", field), message)])


class DuplicateIdentifier(Conflict):
    def __init__(self, field: str, value: str, existing_id: str) -> None:
        message = f"{field} {value!r} already belongs to institution {existing_id}"
        super().__init__(
            f"{message}; update that record instead, or correct the {field}.",
            errors=[FieldError(("body", field), message, "duplicate")],
        )


class HasDependents(Conflict):
    def __init__(self, record_id: str, what: str) -> None:
        super().__init__(f"Institution {record_id} still has {what}; move or delete them first.")
