"""`zhihui keys`: manage API keys straight in the gateway's database (bootstrap, ops)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.config import GatewaySettings
from services.gateway.keys.schemas import KeyCreate
from services.gateway.keys.schemas import KeyRead
from services.gateway.keys.service import ApiKeyService
from services.kernel.db import Database
from services.kernel.errors import ProblemError
from services.kernel.settings import PlatformSettings
from services.registry import GATEWAY


@asynccontextmanager
async def _key_service() -> AsyncIterator[tuple[ApiKeyService, AsyncSession]]:
    """The key service on the gateway's database, for one command; the caller commits."""
    settings = GATEWAY.settings()
    database = Database(
        settings.resolved_database_url(PlatformSettings()),
        schema=settings.resolved_schema(),
        pool_size=1,
    )
    try:
        async with database.sessionmaker() as session:
            yield ApiKeyService(session), session
    finally:
        await database.dispose()


def _parse_expiry(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def _create(args: argparse.Namespace) -> int:
    data = KeyCreate(
        name=args.name or f"{args.role} key for {args.org or 'platform'}",
        role=args.role,
        org=args.org,
        rate_limit=args.rate_limit,
        expires_at=_parse_expiry(args.expires),
    )
    async with _key_service() as (keys, session):
        key, secret = await keys.create(
            data, default_rate_limit=GatewaySettings().default_key_rate_limit, created_by="cli"
        )
        await session.commit()
    print(f"id:     {key.id}\nrole:   {key.role}\norg:    {key.org or '-'}")
    print(f"secret: {secret}\n(shown once: store it now; only its hash is kept)")
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with _key_service() as (keys, _session):
        listed = await keys.list(include_revoked=args.all)
    for key in map(KeyRead.model_validate, listed):
        state = "revoked" if key.revoked_at else "active"
        print(f"{key.id}  {key.role:<7} {key.org or '-':<12} {state:<8} {key.name}")
    return 0


async def _revoke(args: argparse.Namespace) -> int:
    async with _key_service() as (keys, session):
        key = await keys.revoke(args.key_id)
        await session.commit()
    print(f"revoked {key.id}")
    return 0


def run_keys(args: argparse.Namespace) -> int:
    actions = {"create": _create, "list": _list, "revoke": _revoke}
    try:
        return asyncio.run(actions[args.action](args))
    except (ValidationError, ValueError) as exc:
        print(f"error: {exc}")
        return 2
    except ProblemError as exc:
        print(f"error: {exc.detail}")
        return 2


def add_keys_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="create, list and revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key; prints its secret once")
    create.add_argument("--role", required=True, choices=["reader", "editor", "admin"])
    create.add_argument("--org", help="owning organisation (required for reader/editor)")
    create.add_argument("--name", help="what the key is for")
    create.add_argument("--rate-limit", type=int, help="requests per minute")
    create.add_argument("--expires", help="ISO date/time when the key stops working")
    listing = actions.add_parser("list", help="list keys")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    revoke = actions.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id")
    keys.set_defaults(func=run_keys)
