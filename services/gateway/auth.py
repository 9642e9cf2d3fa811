"""Who is calling: API-key authentication and rate limiting for every public request.

Done in one ASGI middleware so that even a 401, 404 or 429 carries the rate-limit headers,
and so the route code only ever sees an authenticated `Actor`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Annotated
from typing import Any

from fastapi import Depends
from fastapi import Request
from sqlalchemy import Row
from sqlalchemy import bindparam
from sqlalchemy import select
from starlette.types import ASGIApp
from starlette.types import Message
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from services.gateway.client_address import client_address
from services.gateway.client_address import parse_networks
from services.gateway.config import GatewaySettings
from services.gateway.keys.exceptions import InvalidApiKey
from services.gateway.keys.service import ApiKeyService
from services.gateway.keys.service import check_key
from services.gateway.keys.service import hash_token
from services.gateway.keys.service import key_id_of
from services.gateway.keys.service import touch_due
from services.gateway.models import ApiKey
from services.gateway.ratelimit import RateLimiter
from services.kernel.db import Database
from services.kernel.errors import Forbidden
from services.kernel.errors import ProblemError
from services.kernel.errors import ServiceUnavailable
from services.kernel.errors import TooManyRequests
from services.kernel.errors import Unauthorized
from services.kernel.errors import database_unavailable
from services.kernel.errors import problem_response
from services.kernel.internal_auth import Actor
from services.kernel.internal_auth import Role

logger = logging.getLogger("zhihui.gateway.auth")

# Every API version is behind the key check (the public routes live at proxy.PUBLIC_PREFIX).
API_ROOT = "/api/"
_KEYS = ApiKey.__table__
_KEY_BY_ID = select(_KEYS).where(_KEYS.c.id == bindparam("key_id"))


# Refused keys remembered per gateway process, so a key that failed is refused again without
# a key-store read (a refusal is final: unknown, wrong secret, revoked or expired).
MAX_REFUSED_KEYS = 10_000


class CallerMiddleware:
    """Authenticates `Authorization: Bearer`, applies the rate limit, stores the Actor.

    Failed authentications are limited per client address (`failed_auth_rate_limit` a
    minute): past it, a key that failed before or was never seen is a 429 without a
    key-store read, so guessing keys costs the guesser, not the database.
    """

    def __init__(
        self, app: ASGIApp, *, database: Database, settings: GatewaySettings, limiter: RateLimiter
    ) -> None:
        self.app = app
        self.database = database
        self.settings = settings
        self.limiter = limiter
        self.proxies = parse_networks(settings.trusted_proxies)
        self.refused: OrderedDict[str, str] = OrderedDict()  # token hash -> reason

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_ROOT):
            await self.app(scope, receive, send)
            return
        try:
            actor, limit, bucket = await self._identify(scope)
        except ProblemError as exc:
            await _send_problem(scope, send, exc, {})
            return
        except Exception as exc:
            # The key store is down (database restart): a clean 503, the connection kept.
            if not database_unavailable(exc):
                raise
            unavailable = ServiceUnavailable(
                "API keys cannot be checked at the moment; retry shortly.",
                headers={"Retry-After": "1"},
            )
            await _send_problem(scope, send, unavailable, {})
            return
        decision = self.limiter.hit(bucket, limit)
        rate_headers = {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
        }
        if not decision.allowed:
            limited = TooManyRequests(
                f"Rate limit of {decision.limit} requests per minute reached; retry after "
                f"{decision.retry_after} s (ask the platform for a higher limit if you need one).",
                headers={"Retry-After": str(decision.retry_after)},
            )
            await _send_problem(scope, send, limited, rate_headers)
            return
        scope.setdefault("state", {})["actor"] = actor

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in rate_headers.items()]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _identify(self, scope: Scope) -> tuple[Actor, int, str]:
        address = client_address(scope, self.proxies)
        authorization = _header(scope, b"authorization")
        if authorization is None:
            return Actor(role=Role.ANONYMOUS), self.settings.anonymous_rate_limit, f"ip:{address}"
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise self._failed(address, "The Authorization header is not `Bearer <key>`")
        token_hash = hash_token(token)
        reason = self.refused.get(token_hash)
        if reason is not None:
            raise self._failed(address, reason)
        self._ensure_may_try(address)
        try:
            key = check_key(await self._key_row(key_id_of(token)), token)
        except InvalidApiKey as exc:
            self._remember_refused(token_hash, exc.reason)
            raise self._failed(address, exc.reason) from None
        if touch_due(key):  # at most once a minute per key: the ORM's way, with a commit
            async with self.database.sessionmaker() as session:
                keys = ApiKeyService(session)
                if await keys.touch(await keys.authenticate(token)):
                    await session.commit()
        actor = Actor(role=Role(key.role), org=key.org, key_id=key.id)
        return actor, key.rate_limit, f"key:{key.id}"

    def _failed(self, address: str, reason: str) -> ProblemError:
        """A 401 for this failure, or a 429 once the address has failed too often."""
        self._ensure_may_try(address)
        self.limiter.hit(_failures_bucket(address), self.settings.failed_auth_rate_limit)
        return InvalidApiKey(reason)

    def _ensure_may_try(self, address: str) -> None:
        decision = self.limiter.peek(
            _failures_bucket(address), self.settings.failed_auth_rate_limit
        )
        if not decision.allowed:
            raise TooManyRequests(
                f"Too many failed authentications from your address ({decision.limit} a "
                f"minute); retry after {decision.retry_after} s with a valid key.",
                headers={"Retry-After": str(decision.retry_after)},
            )

    def _remember_refused(self, token_hash: str, reason: str) -> None:
        self.refused[token_hash] = reason
        if len(self.refused) > MAX_REFUSED_KEYS:
            self.refused.popitem(last=False)

    async def _key_row(self, key_id: str | None) -> Row[Any] | None:
        """The key's row, read afresh on every request so a revocation applies at once.

        A Core read, not an ORM session: this runs for every keyed request, and on
        PostgreSQL in autocommit, so a lone primary-key read costs one round trip instead of
        BEGIN, SELECT and ROLLBACK (bench/README.md, "Record reads").
        """
        if key_id is None:
            return None
        async with self.database.engine.connect() as conn:
            if self.database.is_postgres:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            result = await conn.execute(_KEY_BY_ID, {"key_id": key_id})
            return result.first()


def _failures_bucket(address: str) -> str:
    return f"auth-failures:{address}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _send_problem(
    scope: Scope, send: Send, exc: ProblemError, extra_headers: dict[str, str]
) -> None:
    response = problem_response(
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        instance=scope["path"],
        errors=exc.errors,
        headers={**exc.headers, **extra_headers},
    )

    async def no_receive() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, no_receive, send)


# The dependencies below are `async def` although they never await: FastAPI runs a plain
# `def` dependency in a worker thread, a hand-off that cost more than the whole function.
async def current_actor(request: Request) -> Actor:
    """The authenticated caller (set by CallerMiddleware)."""
    actor = getattr(request.state, "actor", None)
    return actor if isinstance(actor, Actor) else Actor(role=Role.ANONYMOUS)


def _refuse(actor: Actor, needed: str) -> None:
    # Anonymous callers are told to authenticate (401); known callers lack the role (403).
    if actor.role is Role.ANONYMOUS:
        raise Unauthorized(
            f"This operation needs {needed} API key; send `Authorization: Bearer <key>`.",
            headers={"WWW-Authenticate": 'Bearer realm="zhihui"'},
        )
    raise Forbidden(f"This operation needs {needed} API key; yours is a {actor.role.value} key.")


async def require_writer(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
    if actor.role not in (Role.EDITOR, Role.ADMIN):
        _refuse(actor, "an editor or admin")
    return actor


async def require_admin(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
    if actor.role is not Role.ADMIN:
        _refuse(actor, "an admin")
    return actor


Caller = Annotated[Actor, Depends(current_actor)]
WriterCaller = Annotated[Actor, Depends(require_writer)]
AdminCaller = Annotated[Actor, Depends(require_admin)]
