"""What list entries add to a record: names joined in at index time, for the docs.

List routes answer from the search index, whose documents carry the current names of the
linked institutions (and the byline as printed) beside the IDs. The single-record models
forbid unknown keys inside affiliations and authors, so the list entries get their own.
"""

from __future__ import annotations

from pydantic import Field

from services.events.schemas import EventRead
from services.events.schemas import Participant
from services.experts.schemas import Affiliation
from services.experts.schemas import ExpertRead
from services.outcomes.schemas import Author
from services.outcomes.schemas import OutcomeSummary

# The list models narrow their base models' lists to richer entries. mypy refuses that for a
# list (invariant), hence the ignores below; pydantic validates each model by its own fields,
# and nothing puts a base-class entry into these lists.


class ListedAffiliation(Affiliation):
    """A post as lists return it: with the institution's current name."""

    institution_name: str | None = Field(
        None, description="The institution's current name (null if it no longer exists)."
    )


class ExpertListed(ExpertRead):
    """An expert as lists return it."""

    affiliations: list[ListedAffiliation] = Field(default_factory=list)  # type: ignore[assignment]
    institution_names: list[str] = Field(
        default_factory=list, description="Current names of the affiliated institutions."
    )


class ListedAuthor(Author):
    """An author as lists return it: `name` is the byline, or the expert's current name."""

    printed_name: str | None = Field(None, description="The name as printed on the outcome.")


class OutcomeListed(OutcomeSummary):
    """An outcome as lists return it (no full text)."""

    authors: list[ListedAuthor] = Field(default_factory=list)  # type: ignore[assignment]
    institution_names: list[str] = Field(
        default_factory=list, description="Current names of the outcome's institutions."
    )


class ListedParticipant(Participant):
    """A participant as lists return it: `name` as announced, or the expert's current name."""

    printed_name: str | None = Field(None, description="The name as announced.")
    role_label: str | None = Field(None, description="Chinese label of `role`, e.g. 主讲.")


class EventListed(EventRead):
    """An event as lists return it."""

    participants: list[ListedParticipant] = Field(default_factory=list)  # type: ignore[assignment]
    organiser_names: list[str] = Field(
        default_factory=list, description="Current names of the organisers (主办单位)."
    )
    co_organiser_names: list[str] = Field(
        default_factory=list, description="Current names of the co-organisers (承办/协办单位)."
    )
