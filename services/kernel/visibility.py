"""Who may see a record: one rule for `public` / `partner` / `internal`, for services and gateway.

anonymous sees `public`; readers and editors see `public` and `partner`, plus every record their
own organisation owns (so its `internal` ones); admins and the platform itself see everything.
The same rule is offered two ways: `can_see` for one record, `scope_for` for a query filter
(`visibility IN levels OR owner_org = own_org`), so lists, searches and counts agree with reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.kernel.internal_auth import Actor
from services.kernel.internal_auth import Role
from services.kernel.labelled import LabelledEnum


class Visibility(LabelledEnum):
    PUBLIC = "public", "公开"
    PARTNER = "partner", "合作单位"
    INTERNAL = "internal", "内部"


VISIBILITY_LABELS: dict[Visibility, str] = Visibility.labels()


@dataclass(frozen=True, slots=True)
class VisibilityScope:
    """Records an actor may see: those at `levels`, or owned by `own_org`; None levels = all."""

    levels: frozenset[Visibility] | None
    own_org: str | None = None

    @property
    def sees_all(self) -> bool:
        return self.levels is None

    def admits(self, visibility: str, owner_org: str | None) -> bool:
        if self.levels is None:
            return True
        if self.own_org is not None and owner_org == self.own_org:
            return True
        try:
            level = Visibility(visibility)
        except ValueError:
            return False  # an unknown level is never shown: fail closed
        return level in self.levels


_PUBLIC_ONLY = VisibilityScope(frozenset({Visibility.PUBLIC}))


def scope_for(actor: Actor | None) -> VisibilityScope:
    """The visibility scope of a caller; no actor is treated as anonymous."""
    if actor is None or actor.role is Role.ANONYMOUS:
        # An org header on an anonymous call is ignored: only an API key proves membership.
        return _PUBLIC_ONLY
    if actor.role in (Role.ADMIN, Role.SERVICE):
        return VisibilityScope(None)
    if actor.role in (Role.READER, Role.EDITOR):
        return VisibilityScope(frozenset({Visibility.PUBLIC, Visibility.PARTNER}), actor.org)
    return _PUBLIC_ONLY  # pragma: no cover - every role is handled above


def can_see(actor: Actor | None, visibility: str, owner_org: str | None) -> bool:
    """Whether `actor` may see a record with this visibility and owner."""
    return scope_for(actor).admits(visibility, owner_org)
