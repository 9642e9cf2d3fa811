"""Service-side authentication: only the gateway (holding the internal token) may call in.

The gateway authenticates API keys and forwards the caller's identity in headers; services
trust those headers only together with a valid internal token.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends
from fastapi import Header
from fastapi import Request

from services.kernel.errors import FieldError
from services.kernel.errors import Forbidden
from services.kernel.errors import Unauthorized

INTERNAL_TOKEN_HEADER = "X-Internal-Token"
ACTOR_ROLE_HEADER = "X-Actor-Role"
ACTOR_ORG_HEADER = "X-Actor-Org"
ACTOR_KEY_HEADER = "X-Actor-Key-Id"


class Role(StrEnum):
    ANONYMOUS = "anonymous"
    READER = "reader"
    EDITOR = "editor"
    ADMIN = "admin"
    # The platform itself (indexer, other services): reads everything, writes nothing.
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling, as vouched for by the gateway."""

    role: Role
    org: str | None = None
    key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def may_write(self, owner_org: str | None) -> bool:
        """Admins write everything; editors write records their organisation owns."""
        if self.role is Role.ADMIN:
            return True
        return self.role is Role.EDITOR and self.org is not None and self.org == owner_org


def verify_internal_token(request: Request, presented: str | None) -> None:
    expected: str = request.app.state.internal_token
    if not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise Unauthorized(
            "This is an internal service; call it through the gateway (missing or wrong "
            f"{INTERNAL_TOKEN_HEADER}).",
            errors=[FieldError(("header", INTERNAL_TOKEN_HEADER), "invalid token", "auth")],
        )


async def require_internal_caller(
    request: Request,
    x_internal_token: Annotated[str | None, Header(alias=INTERNAL_TOKEN_HEADER)] = None,
    x_actor_role: Annotated[str | None, Header(alias=ACTOR_ROLE_HEADER)] = None,
    x_actor_org: Annotated[str | None, Header(alias=ACTOR_ORG_HEADER)] = None,
    x_actor_key_id: Annotated[str | None, Header(alias=ACTOR_KEY_HEADER)] = None,
) -> Actor:
    """The forwarded caller; 401 without the internal token."""
    verify_internal_token(request, x_internal_token)
    role = Role.SERVICE
    if x_actor_role:
        try:
            role = Role(x_actor_role)
        except ValueError as exc:
            raise Unauthorized(f"unknown actor role {x_actor_role[:20]!r}") from exc
    return Actor(role=role, org=x_actor_org or None, key_id=x_actor_key_id or None)


async def require_writer(actor: Annotated[Actor, Depends(require_internal_caller)]) -> Actor:
    """Editors and admins only; per-record ownership is checked by the service."""
    if actor.role not in (Role.EDITOR, Role.ADMIN):
        raise Forbidden("Writing needs an editor or admin API key.")
    if actor.role is Role.EDITOR and not actor.org:
        raise Forbidden("An editor key must belong to an organisation to write records.")
    return actor


async def require_admin(actor: Annotated[Actor, Depends(require_internal_caller)]) -> Actor:
    if actor.role is not Role.ADMIN:
        raise Forbidden("This operation needs an admin API key.")
    return actor


InternalCaller = Annotated[Actor, Depends(require_internal_caller)]
Writer = Annotated[Actor, Depends(require_writer)]
Admin = Annotated[Actor, Depends(require_admin)]
