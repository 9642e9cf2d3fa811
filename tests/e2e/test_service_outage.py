"""A service process killed under a running gateway: 503 fast, others unaffected, recovery."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from services.gateway.config import GatewaySettings
from services.gateway.keys.schemas import KeyCreate
from services.gateway.keys.schemas import KeyRole
from services.gateway.keys.service import ApiKeyService
from services.gateway.main import create_app as create_gateway
from services.gateway.search.backends.embedded import EmbeddedBackend
from services.gateway.search.components import create_search
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.settings import DEFAULT_INTERNAL_TOKEN
from services.kernel.settings import PlatformSettings
from tests.conftest import asgi_client
from tests.e2e.processes import clean_env
from tests.e2e.processes import free_port
from tests.e2e.processes import start_service
from tests.e2e.processes import stop
from tests.e2e.processes import zhihui

TIMEOUT_SECONDS = 2.0


async def _admin_key(database: Database) -> str:
    async with database.sessionmaker() as session:
        _key, secret = await ApiKeyService(session).create(
            KeyCreate(name="outage test", role=KeyRole.ADMIN),
            default_rate_limit=10_000,
            created_by="t",
        )
        await session.commit()
    return secret


async def test_killed_service_is_503_others_keep_working_and_it_recovers(tmp_path: Path) -> None:
    ports = {"institutions": free_port(), "experts": free_port()}
    env = clean_env(tmp_path, **{f"ZHIHUI_{n.upper()}_PORT": str(p) for n, p in ports.items()})
    zhihui("migrate", env=env)
    logs = {name: tmp_path / f"{name}.log" for name in ports}
    processes = {name: start_service(name, port, env, logs[name]) for name, port in ports.items()}
    gateway_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'gateway.sqlite'}")
    clients = {
        name: ServiceClient(
            name,
            f"http://127.0.0.1:{port}",
            DEFAULT_INTERNAL_TOKEN,
            timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=0.5),
        )
        for name, port in ports.items()
    }
    search = create_search(EmbeddedBackend(tmp_path / "search.sqlite"))
    settings = GatewaySettings(run_indexer=False)
    app = create_gateway(settings, PlatformSettings(), gateway_db, clients, search=search)
    try:
        admin = {"Authorization": f"Bearer {await _admin_key(gateway_db)}"}
        async with asgi_client(app, "http://gateway") as gateway:
            created = await gateway.post(
                "/api/v1/institutions", json={"name": "中国科学院"}, headers=admin
            )
            assert created.status_code == 201, created.text
            path = f"/api/v1/institutions/{created.json()['id']}"

            processes["institutions"].send_signal(signal.SIGKILL)
            processes["institutions"].wait()
            started = time.monotonic()
            down = await gateway.get(path)
            elapsed = time.monotonic() - started
            assert down.status_code == 503 and down.headers["retry-after"]
            assert down.headers["content-type"].startswith("application/problem+json")
            assert elapsed < TIMEOUT_SECONDS * 3, f"took {elapsed:.1f}s"
            write = await gateway.post("/api/v1/institutions", json={"name": "x"}, headers=admin)
            assert write.status_code == 503

            experts = await gateway.get("/api/v1/experts")
            assert experts.status_code == 200, "another library must keep working"

            processes["institutions"] = start_service(
                "institutions", ports["institutions"], env, logs["institutions"]
            )
            back = await gateway.get(path)
            assert back.status_code == 200 and back.json()["name"] == "中国科学院"
    finally:
        for process in processes.values():
            stop(process)
        for client in clients.values():
            await client.aclose()
        await gateway_db.dispose()
        await search.close()
