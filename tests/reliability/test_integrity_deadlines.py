"""A write commits before its caller has an answer, or never.

The institutions service runs as a real process (`zhihui serve`) on SQLite and on PostgreSQL;
the gateway calls it over HTTP with a short timeout. Another connection holds what the write
needs (SQLite's write lock; PostgreSQL's change-feed lock) for longer than the gateway waits.
The POST must then answer 503, nothing may be written even after the lock is released (a
service that kept waiting would commit then), and a retry with the same Idempotency-Key must
make exactly one record.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from services.gateway.config import GatewaySettings
from services.gateway.main import create_app as create_gateway
from services.kernel.db import Database
from services.kernel.locks import lock_for_transaction
from services.kernel.settings import PlatformSettings
from services.registry import COMPONENTS
from tests.e2e.processes import create_admin_key
from tests.e2e.processes import start_services
from tests.gateway.search.helpers import make_search
from tests.reliability.summary import ReliabilityReport

pytestmark = [pytest.mark.reliability("integrity")]

GATEWAY_TIMEOUT = 3.0  # the service's budget is 2 s of it (kernel/deadline.py)
HOLD_SECONDS = 5.0
TRIALS = 2
INSTITUTIONS = "/api/v1/institutions"

Hold = Callable[[], AbstractAsyncContextManager[None]]


@dataclass
class Stack:
    gateway: httpx.AsyncClient
    admin: dict[str, str]
    service: httpx.AsyncClient  # straight to the service, to read what was stored


@asynccontextmanager
async def _stack(data_dir: Path, gateway_db: Database, **env: str) -> AsyncIterator[Stack]:
    services = start_services(data_dir, names=("institutions",), **env)
    clients = services.clients(GATEWAY_TIMEOUT)
    search = make_search("embedded", data_dir)
    app = create_gateway(
        GatewaySettings(run_indexer=False, service_timeout_seconds=GATEWAY_TIMEOUT),
        PlatformSettings(),
        gateway_db,
        clients,
        search=search,
    )
    try:
        admin = await create_admin_key(gateway_db)
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30) as gw,
            httpx.AsyncClient(
                base_url=services.url("institutions"),
                headers=clients["institutions"].headers_for(None),
                timeout=30,
            ) as service,
        ):
            yield Stack(gw, admin, service)
    finally:
        await search.close()
        for client in clients.values():
            await client.aclose()
        services.stop_all()


async def _names(service: httpx.AsyncClient) -> list[str]:
    response = await service.get("/institutions", params={"page_size": 100})
    assert response.status_code == 200, response.text
    return [r["name"] for r in response.json()["results"]]


async def _trials(stack: Stack, hold: Hold, reliability: ReliabilityReport) -> None:
    violations = 0
    for _ in range(TRIALS):
        name = f"超时写入{uuid.uuid4().hex[:8]}"
        headers = {**stack.admin, "Idempotency-Key": str(uuid.uuid4())}
        async with hold():
            started = time.monotonic()
            refused = await stack.gateway.post(INSTITUTIONS, json={"name": name}, headers=headers)
            waited = time.monotonic() - started
            assert refused.status_code == 503, refused.text
            assert "retry" in refused.json()["detail"] and refused.headers["retry-after"]
            assert waited < GATEWAY_TIMEOUT + 1.0, waited
            await asyncio.sleep(max(0.0, HOLD_SECONDS - waited))
        await asyncio.sleep(2.0)  # a service still waiting for the lock would commit now
        written_late = name in await _names(stack.service)
        retried = await stack.gateway.post(INSTITUTIONS, json={"name": name}, headers=headers)
        assert retried.status_code == 201, retried.text
        copies = (await _names(stack.service)).count(name)
        violations += written_late or copies != 1
    reliability.cases("integrity", TRIALS, violations)
    assert violations == 0, f"{violations} of {TRIALS} writes committed after their 503"


async def test_sqlite_write_after_the_gateway_gave_up_never_commits(
    tmp_path: Path, reliability: ReliabilityReport
) -> None:
    gateway_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'gateway.sqlite'}")

    @asynccontextmanager
    async def hold() -> AsyncIterator[None]:
        """Another process's write transaction on the service's SQLite file."""
        locked, release = threading.Event(), threading.Event()

        def holder() -> None:
            connection = sqlite3.connect(tmp_path / "institutions.sqlite", isolation_level=None)
            connection.execute("BEGIN IMMEDIATE")
            locked.set()
            release.wait()
            connection.execute("ROLLBACK")
            connection.close()

        thread = threading.Thread(target=holder)
        thread.start()
        await asyncio.to_thread(locked.wait)
        try:
            yield
        finally:
            release.set()
            await asyncio.to_thread(thread.join)

    try:
        async with _stack(tmp_path, gateway_db) as stack:
            await _trials(stack, hold, reliability)
    finally:
        await gateway_db.dispose()


async def test_postgres_write_after_the_gateway_gave_up_never_commits(
    tmp_path: Path, postgres_url: str, reliability: ReliabilityReport
) -> None:
    prefix = f"t{secrets.token_hex(4)}"
    schemas = {spec.name: f"{prefix}_{spec.name}" for spec in COMPONENTS}
    env = {f"ZHIHUI_{name.upper()}_DATABASE_SCHEMA": schema for name, schema in schemas.items()}
    gateway_db = Database(postgres_url, schema=schemas["gateway"])
    institutions_db = Database(postgres_url, schema=schemas["institutions"])

    @asynccontextmanager
    async def hold() -> AsyncIterator[None]:
        """Another transaction holding the institutions feed's lock (as a long bulk does)."""
        async with institutions_db.sessionmaker() as session:
            await lock_for_transaction(session, "feed:institutions")
            try:
                yield
            finally:
                await session.rollback()

    try:
        async with _stack(tmp_path, gateway_db, ZHIHUI_DATABASE_URL=postgres_url, **env) as stack:
            await _trials(stack, hold, reliability)
    finally:
        async with gateway_db.engine.connect() as conn:
            for schema in schemas.values():
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await conn.commit()
        await gateway_db.dispose()
        await institutions_db.dispose()
