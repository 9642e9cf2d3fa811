"""API keys: random secrets shown once, stored as SHA-256 hashes, revocable at once."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from typing import Protocol
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.keys.exceptions import InvalidApiKey
from services.gateway.keys.exceptions import KeyNotFound
from services.gateway.keys.repository import ApiKeyRepository
from services.gateway.keys.schemas import KeyCreate
from services.gateway.keys.schemas import KeyRole
from services.gateway.models import KEY_ID_PREFIX
from services.gateway.models import ApiKey
from services.kernel.db import utcnow
from services.kernel.errors import FieldError
from services.kernel.errors import ValidationFailed
from services.kernel.record_ids import ID_BODY_LENGTH
from services.kernel.record_ids import new_id


class KeyFields(Protocol):
    """What checking a key reads: an ApiKey, or a row of its table."""

    secret_hash: str
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None


# `zhk_` makes leaked keys easy to spot (secret scanners); the key ID is embedded so lookup
# is by primary key, and only the hash of the whole token is compared.
TOKEN_PREFIX = "zhk_"
LAST_USED_RESOLUTION = timedelta(minutes=1)
_TOKEN = re.compile(rf"^{TOKEN_PREFIX}([0-9a-z]{{{ID_BODY_LENGTH}}})_([A-Za-z0-9_-]{{43}})$")


def hash_token(token: str) -> str:
    # A 256-bit random secret needs no slow hash: brute force is already infeasible.
    return hashlib.sha256(token.encode()).hexdigest()


def key_id_of(token: str) -> str | None:
    match = _TOKEN.match(token)
    return f"{KEY_ID_PREFIX}_{match.group(1)}" if match else None


class ApiKeyService:
    def __init__(self, session: AsyncSession) -> None:
        self.repo = ApiKeyRepository(session)

    async def create(
        self, data: KeyCreate, *, default_rate_limit: int, created_by: str | None
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (the only time the secret exists outside the caller)."""
        if data.role is not KeyRole.ADMIN and not data.org:
            raise ValidationFailed(
                "org: reader and editor keys belong to an organisation; give its code",
                errors=[FieldError(("body", "org"), "required for reader and editor keys")],
            )
        if data.expires_at is not None and data.expires_at <= utcnow():
            raise ValidationFailed(
                "expires_at: must be in the future",
                errors=[FieldError(("body", "expires_at"), "must be in the future")],
            )
        key_id = new_id(KEY_ID_PREFIX)
        token = f"{TOKEN_PREFIX}{key_id.split('_', 1)[1]}_{secrets.token_urlsafe(32)}"
        key = ApiKey(
            id=key_id,
            name=data.name,
            role=data.role.value,
            org=data.org,
            secret_hash=hash_token(token),
            rate_limit=data.rate_limit or default_rate_limit,
            created_at=utcnow(),
            created_by=created_by,
            expires_at=data.expires_at,
        )
        await self.repo.add(key)
        return key, token

    async def list(self, *, include_revoked: bool = False) -> Sequence[ApiKey]:
        return await self.repo.list(include_revoked=include_revoked)

    async def revoke(self, key_id: str) -> ApiKey:
        key = await self.repo.get(key_id)
        if key is None:
            raise KeyNotFound(key_id)
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            await self.repo.session.flush()
        return key

    async def touch(self, key: ApiKey) -> bool:
        """Record use for admins' key lists, at most once a minute per key (not every request)."""
        now = utcnow()
        if not touch_due(key, now):
            return False
        key.last_used_at = now
        await self.repo.session.flush()
        return True

    async def authenticate(self, token: str, *, now: datetime | None = None) -> ApiKey:
        """The live key behind `token`; 401 if unknown, revoked or expired."""
        key_id = key_id_of(token)
        key = await self.repo.get(key_id) if key_id else None
        return check_key(key, token, now=now)


K = TypeVar("K", bound=KeyFields)


def check_key(key: K | None, token: str, *, now: datetime | None = None) -> K:
    """`key` if it is the live key behind `token`; 401 if unknown, revoked or expired."""
    if key is None or not hmac.compare_digest(key.secret_hash, hash_token(token)):
        raise InvalidApiKey("The API key is not valid")
    if key.revoked_at is not None:
        raise InvalidApiKey("The API key was revoked")
    if key.expires_at is not None and key.expires_at <= (now or utcnow()):
        raise InvalidApiKey("The API key has expired")
    return key


def touch_due(key: KeyFields, now: datetime | None = None) -> bool:
    """Whether a use of the key should be recorded (see `ApiKeyService.touch`)."""
    last = key.last_used_at
    return last is None or (now or utcnow()) - last >= LAST_USED_RESOLUTION
