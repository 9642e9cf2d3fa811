"""Run platform components as real local processes for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.gateway.config import GatewaySettings
from services.gateway.indexer.feeds import read_feed
from services.gateway.indexer.runner import Indexer
from services.gateway.indexer.sink import DATASETS
from services.gateway.keys.schemas import KeyCreate
from services.gateway.keys.schemas import KeyRole
from services.gateway.keys.service import ApiKeyService
from services.gateway.main import create_app as create_gateway
from services.gateway.search.backends.elasticsearch import ElasticsearchBackend
from services.gateway.search.components import SearchComponents
from services.gateway.search.components import create_search
from services.gateway.search.libraries import LIBRARY_SCHEMAS
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.settings import DEFAULT_INTERNAL_TOKEN
from services.kernel.settings import PlatformSettings
from services.registry import SERVICES


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment without any ZHIHUI_ settings of the caller, on a private data dir."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ZHIHUI_") or k.startswith("ZHIHUI_TEST")
    }
    env["ZHIHUI_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def zhihui(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def spawn_service(name: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`zhihui serve NAME` in the background, its output appended to `log`; not waited for."""
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "serve", name, "--port", str(port)],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def start_service(name: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`spawn_service`, then wait until it answers `/readyz`."""
    process = spawn_service(name, port, env, log)
    wait_ready(f"http://127.0.0.1:{port}", process, log)
    return process


def internal_clients(urls: Mapping[str, str], timeout: float) -> dict[str, ServiceClient]:
    """Clients of the domain services as the gateway holds them (local internal token)."""
    return {
        name: ServiceClient(
            name, url, DEFAULT_INTERNAL_TOKEN, timeout=httpx.Timeout(timeout, connect=2.0)
        )
        for name, url in urls.items()
    }


def wait_ready(
    base_url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{base_url} exited early:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base_url} not ready after {timeout}s:\n{log.read_text()[-2000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------- the search stack, for real

# Every declared library's service, in start order.
DOMAIN_SERVICES = tuple(spec.name for spec in SERVICES)


@dataclass
class RunningServices:
    """Domain services as `zhihui serve` processes on free ports, SQLite under one data dir."""

    data_dir: Path
    ports: dict[str, int]
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def log(self, name: str) -> Path:
        return self.data_dir / f"{name}.log"

    def clients(self, timeout: float = 10.0) -> dict[str, ServiceClient]:
        """Internal clients as the gateway holds them (local internal token)."""
        return internal_clients({name: self.url(name) for name in self.ports}, timeout)

    def stop_all(self) -> None:
        for process in self.processes.values():
            stop(process)


def start_services(
    data_dir: Path, names: Sequence[str] = DOMAIN_SERVICES, **extra_env: str
) -> RunningServices:
    """Migrate every component's database (under `data_dir`, unless `extra_env` points them
    elsewhere), then serve `names` on free ports."""
    ports = {name: free_port() for name in names}
    env = clean_env(
        data_dir, **{f"ZHIHUI_{n.upper()}_PORT": str(p) for n, p in ports.items()}, **extra_env
    )
    zhihui("migrate", env=env)
    running = RunningServices(data_dir, ports, env)
    try:
        for name, port in ports.items():
            running.processes[name] = start_service(name, port, env, running.log(name))
    except BaseException:
        running.stop_all()
        raise
    return running


async def create_admin_key(database: Database, rate_limit: int = 100_000) -> dict[str, str]:
    """An admin key straight in the gateway database; its Authorization header."""
    async with database.sessionmaker() as session:
        _key, secret = await ApiKeyService(session).create(
            KeyCreate(name="e2e admin", role=KeyRole.ADMIN, rate_limit=rate_limit),
            default_rate_limit=rate_limit,
            created_by="e2e",
        )
        await session.commit()
    return {"Authorization": f"Bearer {secret}"}


async def index_heads(clients: Mapping[str, ServiceClient]) -> dict[str, int]:
    """Each feed's head (highest committed change seq), read from its service now."""
    heads: dict[str, int] = {}
    for feed, client in clients.items():
        page = await read_feed(client, after=0, limit=1)
        heads[feed] = page.head
    return heads


@dataclass
class SearchStack:
    """Real services, and the gateway (with its in-process indexer) on Elasticsearch."""

    services: RunningServices
    app: FastAPI
    gateway: httpx.AsyncClient
    admin: dict[str, str]
    search: SearchComponents
    clients: dict[str, ServiceClient]
    elasticsearch_url: str
    index_prefix: str

    @property
    def indexer(self) -> Indexer:
        indexer = self.app.state.indexer
        assert indexer is not None, "the gateway runs no indexer"
        return indexer  # type: ignore[no-any-return]

    def alias(self, library: str) -> str:
        return f"{self.index_prefix}_{library}"

    async def caught_up(self) -> bool:
        """Every feed's durable cursor has reached its service's head (as read now)."""
        heads = await index_heads(self.clients)
        cursors = await self.indexer.store.cursors()
        return all(f in cursors and cursors[f].position >= h for f, h in heads.items())

    async def wait_caught_up(self, within: float) -> float:
        """Seconds until `caught_up`; fails with each feed's state after `within` s."""
        started = time.monotonic()
        while not await self.caught_up():
            if time.monotonic() - started > within:
                raise AssertionError(
                    f"indexer not caught up after {within:.0f}s: heads "
                    f"{await index_heads(self.clients)}, status {self.indexer.snapshot()}"
                )
            await asyncio.sleep(0.2)
        return time.monotonic() - started


@asynccontextmanager
async def search_stack(
    data_dir: Path, elasticsearch_url: str, *, service_timeout: float = 10.0
) -> AsyncIterator[SearchStack]:
    """Services as processes and the gateway in this process with `run_indexer=True`, on
    Elasticsearch with production settings (no refresh on write: the index's 1 s refresh
    interval applies) under a unique index prefix; the libraries are dropped afterwards."""
    services = start_services(data_dir)
    clients = services.clients(service_timeout)
    prefix = f"zhihui_e2e_{secrets.token_hex(4)}"
    search = create_search(ElasticsearchBackend(elasticsearch_url, index_prefix=prefix))
    gateway_db = Database(f"sqlite+aiosqlite:///{data_dir / 'gateway.sqlite'}")
    app = create_gateway(
        GatewaySettings(run_indexer=True), PlatformSettings(), gateway_db, clients, search=search
    )
    try:
        admin = await create_admin_key(gateway_db)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://gateway",
                timeout=30,
            ) as gateway,
        ):
            yield SearchStack(
                services, app, gateway, admin, search, clients, elasticsearch_url, prefix
            )
    finally:
        try:
            for name in [*LIBRARY_SCHEMAS, DATASETS, *search.catalogue.dataset_libraries()]:
                await search.backend.drop_library(name)
        finally:
            await search.close()
            for client in clients.values():
                await client.aclose()
            await gateway_db.dispose()
            services.stop_all()
