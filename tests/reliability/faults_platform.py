"""The platform as real `zhihui serve` processes that a fault test may SIGKILL and restart.

Domain services and the gateway (with its in-process indexer) run on one data dir, on the
embedded SQLite default unless a PostgreSQL or Elasticsearch URL is given. Every process is
stopped in `finally` by the context manager.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from services.kernel.http import ServiceClient
from tests.e2e.processes import DOMAIN_SERVICES
from tests.e2e.processes import clean_env
from tests.e2e.processes import free_port
from tests.e2e.processes import internal_clients
from tests.e2e.processes import spawn_service
from tests.e2e.processes import stop
from tests.e2e.processes import wait_ready
from tests.e2e.processes import zhihui

GATEWAY = "gateway"
READY_SECONDS = 60.0


@dataclass
class Platform:
    """Running components by name, their ports, the environment and an admin key."""

    data_dir: Path
    env: dict[str, str]
    ports: dict[str, int]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    admin_secret: str = ""

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def gateway_url(self) -> str:
        return self.url(GATEWAY)

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_secret}"}

    def log(self, name: str) -> Path:
        return self.data_dir / f"{name}.log"

    def spawn(self, name: str) -> subprocess.Popen[bytes]:
        process = spawn_service(name, self.ports[name], self.env, self.log(name))
        self.processes[name] = process
        return process

    def start(self, name: str) -> float:
        """(Re)starts one component and waits for its /readyz; returns the seconds it took."""
        started = time.monotonic()
        process = self.spawn(name)
        wait_ready(self.url(name), process, self.log(name), timeout=READY_SECONDS)
        return time.monotonic() - started

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown hooks, open requests and transactions are cut."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def clients(self, timeout: float = 30.0) -> dict[str, ServiceClient]:
        """Internal clients of the domain services (system caller: sees every record)."""
        return internal_clients(
            {name: self.url(name) for name in self.ports if name != GATEWAY}, timeout
        )

    def stop_all(self) -> None:
        for process in self.processes.values():
            stop(process)


@contextmanager
def running_platform(
    data_dir: Path,
    *,
    database_url: str | None = None,
    elasticsearch_url: str | None = None,
    services: tuple[str, ...] = DOMAIN_SERVICES,
    **settings: str,
) -> Iterator[Platform]:
    """Migrates, starts `services` and the gateway side by side, creates an admin key."""
    names = (*services, GATEWAY)
    ports = {name: free_port() for name in names}
    extra = {f"ZHIHUI_{n.upper()}_PORT": str(p) for n, p in ports.items()}
    if database_url:
        extra["ZHIHUI_DATABASE_URL"] = database_url
    if elasticsearch_url:
        extra["ZHIHUI_ELASTICSEARCH_URL"] = elasticsearch_url
    # Writes come fast from one key; the indexer retries quickly so recovery is seen soon.
    extra.setdefault("ZHIHUI_GATEWAY_DEFAULT_KEY_RATE_LIMIT", "100000")
    extra.setdefault("ZHIHUI_INDEXER_BACKOFF_MAX", "1.0")
    extra.update(settings)
    env = clean_env(data_dir, **extra)
    zhihui("migrate", env=env)
    platform = Platform(data_dir, env, ports)
    try:
        for name in names:
            platform.spawn(name)
        for name in names:
            wait_ready(
                platform.url(name), platform.processes[name], platform.log(name), READY_SECONDS
            )
        created = zhihui(
            "keys", "create", "--role", "admin", "--name", "faults", "--rate-limit", "100000",
            env=env,
        )  # fmt: skip
        secret = re.search(r"secret: (\S+)", created.stdout)
        assert secret, created.stdout
        platform.admin_secret = secret.group(1)
        yield platform
    finally:
        platform.stop_all()
