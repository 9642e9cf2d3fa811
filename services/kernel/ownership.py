"""Who may create and change a record: admins anything, editors their own organisation's."""

from __future__ import annotations

from enum import StrEnum

from services.kernel.errors import Forbidden
from services.kernel.internal_auth import Actor

DEFAULT_ADMIN_ORG = "platform"


class UpsertResult(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"

    @classmethod
    def of_replace(cls, before: int, after: int) -> UpsertResult:
        """A record replaced from version `before`: updated if that made a new version."""
        return cls.UPDATED if after != before else cls.UNCHANGED


def owner_for_create(requested: str | None, actor: Actor) -> str:
    """The owner of a new record: the caller's organisation unless an admin names another."""
    if actor.is_admin:
        return requested or actor.org or DEFAULT_ADMIN_ORG
    if requested and requested != actor.org:
        raise Forbidden(
            f"An editor of {actor.org} cannot create records owned by {requested}; omit owner_org."
        )
    if actor.org is None:
        raise Forbidden("An editor key must belong to an organisation to write records.")
    return actor.org


def ensure_may_write(owner_org: str, actor: Actor) -> None:
    if not actor.may_write(owner_org):
        raise Forbidden(
            f"This record belongs to {owner_org}; only its editors or an admin may change it."
        )


def ensure_may_hand_over(current_owner: str, new_owner: str, actor: Actor) -> None:
    if new_owner != current_owner and not actor.is_admin:
        raise Forbidden("Only an admin can hand a record to another organisation (owner_org).")


def owner_for_update(current_owner: str, requested: str | None, actor: Actor) -> str:
    """The owner after a change: the current one unless another is named (admins only)."""
    owner = requested or current_owner
    ensure_may_hand_over(current_owner, owner, actor)
    return owner
