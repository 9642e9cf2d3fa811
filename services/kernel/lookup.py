"""Finding the record a URL names: its own ID (`ins_…`) or an external ID (`ror:…`, `doi:…`).

One rule for every library: an unknown scheme or a malformed external ID is a 400 that says
what is accepted; no such record is a 404; a deleted one (named by its own ID) is a 410. An
external ID names only live records, so a deleted record's external ID is free again.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from services.kernel.errors import BadRequest
from services.kernel.errors import Gone
from services.kernel.errors import NotFound
from services.kernel.errors import ProblemError
from services.kernel.identifiers import IdentifierError
from services.kernel.library import LibraryFacts
from services.kernel.records import RecordMixin
from services.kernel.repository import Repository

M = TypeVar("M", bound=RecordMixin)


@dataclass(frozen=True, slots=True)
class ExternalId:
    """A scheme such as `ror:`: the column it is stored in and how to normalise a value."""

    column: str
    normalize: Callable[[str], str]
    # How much of a malformed value the 400 quotes back.
    echo: int = 40


class RecordNotFound(NotFound):
    """No such record, or one the caller may not see: its existence is not confirmed."""

    def __init__(self, entity: str, ref: str, accepted: str) -> None:
        super().__init__(f"No {entity.replace('_', ' ')} {ref[:120]!r}; check it is {accepted}.")


class RecordDeleted(Gone):
    def __init__(self, entity: str, ref: str) -> None:
        what = entity.replace("_", " ").capitalize()
        super().__init__(f"{what} {ref[:120]!r} was deleted; its ID is not reused.")


@dataclass(frozen=True, slots=True)
class RecordLookup:
    """How one library's records are named in URLs, and its errors for missing ones."""

    schemes: Mapping[str, ExternalId]
    # What a caller may use instead, for the 400, e.g. "an ins_… ID, ror:… or uscc:…".
    accepted: str
    not_found: Callable[[str], ProblemError]
    deleted: Callable[[str], ProblemError]
    # Whether `DOI:` is read as `doi:`.
    ignore_case: bool = False

    @classmethod
    def of_library(
        cls, library: LibraryFacts, schemes: Mapping[str, ExternalId], *, ignore_case: bool = False
    ) -> RecordLookup:
        """A library's lookup, its errors worded from its declaration."""
        ways = [f"an {library.id_prefix}_… ID", *(f"{scheme}:…" for scheme in schemes)]
        accepted = ways[0] if len(ways) == 1 else f"{', '.join(ways[:-1])} or {ways[-1]}"
        return cls(
            schemes=schemes,
            accepted=accepted,
            not_found=lambda ref: RecordNotFound(library.entity, ref, accepted),
            deleted=lambda ref: RecordDeleted(library.entity, ref),
            ignore_case=ignore_case,
        )

    def external(self, ref: str) -> tuple[str, str] | None:
        """`(column, normalised value)` for an external ID; None for a record ID; 400 if bad."""
        scheme, sep, value = ref.partition(":")
        if not sep:
            return None
        name = scheme.lower() if self.ignore_case else scheme
        if name not in self.schemes:
            raise BadRequest(f"Unknown ID scheme {scheme[:20]!r}; use {self.accepted}.")
        external = self.schemes[name]
        try:
            return external.column, external.normalize(value)
        except IdentifierError as exc:
            raise BadRequest(f"{name}:{value[: external.echo]}: {exc}") from exc

    async def find(
        self, repo: Repository[M], ref: str, *, admits: Callable[[M], bool] | None = None
    ) -> M:
        """The record `ref` names; 404 if there is none or `admits` refuses it, 410 if deleted.

        A record `admits` refuses answers exactly like a missing one, deleted or not.
        """
        if "\x00" in ref:  # no stored ID holds a NUL (PostgreSQL text cannot): do not ask
            raise self.not_found(ref[:64].replace("\x00", ""))
        external = self.external(ref)
        if external is None:
            record = await repo.get(ref, include_deleted=True)
        else:
            column, value = external
            record = await repo.get_live_by(**{column: value})
        if record is None or (admits is not None and not admits(record)):
            raise self.not_found(ref)
        if record.is_deleted:
            raise self.deleted(ref)
        return record
