"""`Idempotency-Key` on POST: a retried create answers as the first one did, once.

A client that got no answer (a timeout, a 503, a cut connection) cannot know whether its
POST was written. Sent again with the same `Idempotency-Key`, it gets the first answer
(`Idempotent-Replayed: true`) if the first was written, or is carried out now if it was not;
never a second record. The key is claimed and the answer stored in the same transaction as
the write, so they commit together or not at all; a concurrent request with the same key
waits for the first to finish (the claim's unique key) and then replays its answer. Keys are
kept per caller (API key) for `KEEP_FOR`; the same key with a different body is a 422.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Annotated

import orjson
from fastapi import Depends
from fastapi import Header
from fastapi import Request
from fastapi import Response
from pydantic import BaseModel
from sqlalchemy import Integer
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from services.kernel.db import JSONType
from services.kernel.db import UTCDateTime
from services.kernel.db import rowcount
from services.kernel.db import utcnow
from services.kernel.errors import Conflict
from services.kernel.errors import FieldError
from services.kernel.errors import ValidationFailed
from services.kernel.internal_auth import Actor
from services.kernel.internal_auth import InternalCaller
from services.kernel.session import Session

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEEP_FOR = timedelta(days=1)
JSON_MEDIA_TYPE = "application/json"
# Printable ASCII, as clients generate them (UUIDs, `import-<run>-<batch>`).
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_VALID_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
# Headers of the first answer that a replay repeats.
_KEPT_HEADERS = ("location", "etag", "zhihui-upsert")

IDEMPOTENCY_KEY_DESCRIPTION = (
    "Optional: a unique value per logical request (a UUID), kept for a day. Send the same "
    "POST again with the same key after a timeout or a 503: if the first was written you get "
    "its answer (`Idempotent-Replayed: true`), never a second record. The same key with a "
    "different body is a 422."
)


class IdempotencyMixin:
    """Columns of a service's `idempotency_keys` table: one claimed key and its answer."""

    __tablename__ = "idempotency_keys"

    caller: Mapped[str] = mapped_column(String(96), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # sha256 of method, path and body: the same key may only ever mean the same request.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer, default=0)  # 0 until the answer is stored
    body: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    headers: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdempotentReplay(Exception):
    """The request's key already has an answer; `response` is that answer, sent as is."""

    def __init__(self, response: Response) -> None:
        super().__init__("replayed")
        self.response = response


async def send_replay(_request: Request, exc: Exception) -> Response:
    """Exception handler: a replayed answer goes out exactly as stored."""
    assert isinstance(exc, IdempotentReplay)
    return exc.response


@dataclass
class Idempotency:
    """The claimed key of one POST (or none), and how its answer is stored."""

    session: AsyncSession | None = None
    model: type[IdempotencyMixin] | None = None
    caller: str = ""
    key: str = ""

    async def answer(self, content: BaseModel, response: Response, *, status_code: int) -> Response:
        """The route's answer as JSON, stored under the claimed key (if any) to replay."""
        body = orjson.dumps(content.model_dump(mode="json"))
        headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
        if self.session is not None and self.model is not None:
            await self.session.execute(
                update(self.model)
                .where(self.model.caller == self.caller, self.model.key == self.key)
                .values(status=status_code, body=body, headers=headers)
            )
        return Response(body, status_code, headers, media_type=JSON_MEDIA_TYPE)


def _fingerprint(request: Request, body: bytes) -> str:
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        canonical = body  # NDJSON and other bodies: compared byte for byte
    digest = hashlib.sha256(f"{request.method} {request.scope['path']}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


def _caller(actor: Actor) -> str:
    # Per API key; internal callers without one share their role and organisation's space.
    return actor.key_id or f"{actor.role.value}:{actor.org or '-'}"


async def claim_idempotency_key(
    request: Request,
    session: Session,
    actor: InternalCaller,
    idempotency_key: Annotated[
        str | None,
        Header(alias=IDEMPOTENCY_HEADER, description=IDEMPOTENCY_KEY_DESCRIPTION),
    ] = None,
) -> Idempotency:
    """Claims the request's `Idempotency-Key` in its transaction, or replays its answer."""
    if idempotency_key is None:
        return Idempotency()
    if not _VALID_KEY.match(idempotency_key):
        raise ValidationFailed(
            f"{IDEMPOTENCY_HEADER} must be 1-255 printable ASCII characters without spaces "
            "(a UUID is a good choice).",
            errors=[FieldError(("header", IDEMPOTENCY_HEADER), "malformed key", "value_error")],
        )
    model: type[IdempotencyMixin] = request.app.state.idempotency_model
    caller = _caller(actor)
    fingerprint = _fingerprint(request, await request.body())
    now = utcnow()
    # Expired keys of this caller go first, so an old key may be used again.
    await session.execute(
        delete(model).where(model.caller == caller, model.created_at < now - KEEP_FOR)
    )
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    claimed = await session.execute(
        insert(model)
        .values(caller=caller, key=idempotency_key, fingerprint=fingerprint, created_at=now)
        .on_conflict_do_nothing()
    )
    if rowcount(claimed) == 1:
        return Idempotency(session, model, caller, idempotency_key)
    # Taken: by a request that committed (a concurrent one was waited for by the insert).
    stored = (
        await session.execute(
            select(model).where(model.caller == caller, model.key == idempotency_key)
        )
    ).scalar_one()
    if stored.fingerprint != fingerprint:
        raise ValidationFailed(
            f"This {IDEMPOTENCY_HEADER} was used for a different request in the last "
            f"{KEEP_FOR.days * 24} hours; use a new key for a new request.",
            errors=[FieldError(("header", IDEMPOTENCY_HEADER), "reused for another request")],
        )
    if stored.status == 0:  # committed without its answer: not expected, never replayed
        raise Conflict(f"The first request with this {IDEMPOTENCY_HEADER} did not finish; retry.")
    headers = {**stored.headers, REPLAYED_HEADER: "true"}
    raise IdempotentReplay(
        Response(stored.body, stored.status, headers, media_type=JSON_MEDIA_TYPE)
    )


IdempotencyKey = Annotated[Idempotency, Depends(claim_idempotency_key)]
