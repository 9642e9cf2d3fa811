"""Errors specific to special databases and their records."""

from __future__ import annotations

from collections.abc import Sequence

from services.kernel.errors import Conflict
from services.kernel.errors import FieldError
from services.kernel.errors import Gone
from services.kernel.errors import NotFound
from services.kernel.errors import ValidationFailed
from services.kernel.errors import summarise_errors


class DatasetNotFound(NotFound):
    def __init__(self, slug: str) -> None:
        super().__init__(f"No dataset {slug[:80]!r}; GET /datasets lists the special databases.")


class DatasetDeleted(Gone):
    def __init__(self, slug: str) -> None:
        super().__init__(f"Dataset {slug[:80]!r} was deleted, with all its records.")


class DuplicateSlug(Conflict):
    def __init__(self, slug: str, existing_id: str) -> None:
        message = f"slug {slug!r} already names dataset {existing_id}"
        super().__init__(
            f"{message}; change that dataset instead, or choose another slug.",
            errors=[FieldError(("body", "slug"), message, "duplicate")],
        )


class SlugIsPermanent(ValidationFailed):
    def __init__(self) -> None:
        message = (
            "slug cannot be changed: it is part of every record's URL; create a new dataset "
            "and move the records instead"
        )
        super().__init__(message, errors=[FieldError(("body", "slug"), message, "immutable")])


class IncompatibleDefinition(Conflict):
    """The new definition would invalidate stored records; nothing was changed."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        fields = ", ".join(dict.fromkeys(str(e.loc[-1]) for e in errors))
        super().__init__(
            f"This change would invalidate stored records, so nothing was changed (fields: "
            f"{fields}). Fix or delete those records first, or change the definition so they "
            "still fit; see `errors` for each field and how many records it affects.",
            errors=errors,
        )


class RecordNotFound(NotFound):
    def __init__(self, slug: str, record_id: str) -> None:
        super().__init__(f"No record {record_id[:80]!r} in dataset {slug!r}; check the ID (dsr_…).")


class RecordDeleted(Gone):
    def __init__(self, record_id: str) -> None:
        super().__init__(f"Record {record_id[:80]!r} was deleted; its ID is not reused.")


class InvalidValues(ValidationFailed):
    """Field-level errors in a record's `values`."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__(summarise_errors(errors), errors=errors)


class DuplicateExternalId(Conflict):
    def __init__(self, source: str, external_id: str, existing_id: str) -> None:
        message = f"{source}/{external_id} already belongs to record {existing_id}"
        super().__init__(
            f"{message}; update that record (or PUT …/records/sources/{{source}}/{{external_id}}).",
            errors=[FieldError(("body", "external_id"), message, "duplicate")],
        )
