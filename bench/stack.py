"""The platform as production runs it, for benchmarks: every component its own process.

`platform_stack()` migrates fresh PostgreSQL schemas (one per component, named
`b<run>_<component>`), starts the four domain services and the gateway as `zhihui serve`
processes on free ports, the gateway on Elasticsearch under a unique index prefix with its
in-process indexer, creates an admin and a reader key (rate limits out of the way), and on
exit stops the processes and drops the schemas and indexes. With `database=None` and
`elasticsearch_url=None` it runs on the embedded default instead (SQLite files and the
embedded index under the data directory), like `zhihui up`.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.indexer.feeds import CHANGES_PATH
from services.kernel.settings import DEFAULT_INTERNAL_TOKEN
from tests.e2e.processes import DOMAIN_SERVICES
from tests.e2e.processes import clean_env
from tests.e2e.processes import free_port
from tests.e2e.processes import start_service
from tests.e2e.processes import stop
from tests.e2e.processes import zhihui

COMPONENTS = (*DOMAIN_SERVICES, "gateway")
UNLIMITED = 100_000  # requests per minute, the most a key may have: out of the way of benchmarks


@dataclass
class PlatformStack:
    """Running components, their URLs and the keys a benchmark calls them with."""

    run: str
    data_dir: Path
    env: dict[str, str]
    ports: dict[str, int]
    admin_key: str
    reader_key: str
    elasticsearch_url: str | None
    index_prefix: str | None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, component: str) -> str:
        return f"http://127.0.0.1:{self.ports[component]}"

    @property
    def gateway_url(self) -> str:
        return self.url("gateway")

    def bearer(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    @staticmethod
    def internal_headers(role: str = "admin", org: str = "platform") -> dict[str, str]:
        """What the gateway sends a service on a caller's behalf (the local internal token)."""
        return {
            "X-Internal-Token": DEFAULT_INTERNAL_TOKEN,
            "X-Actor-Role": role,
            "X-Actor-Org": org,
        }

    def feed_heads(self) -> dict[str, int]:
        """Each domain service's change-feed head, read from the service now."""
        heads = {}
        for name in DOMAIN_SERVICES:
            response = httpx.get(
                f"{self.url(name)}{CHANGES_PATH}",
                params={"after": 0, "limit": 1},
                headers=self.internal_headers("service"),
                timeout=30,
            )
            response.raise_for_status()
            heads[name] = int(response.json()["head"])
        return heads

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    def import_command(self, library: str, path: Path, *args: str) -> list[str]:
        """The `zhihui import` command line for one file (gateway, admin key, rejects file)."""
        rejects = self.data_dir / f"{path.stem}.rejects.csv"
        return [
            sys.executable, "-m", "services.cli.main", "import", library, str(path),
            "--gateway", self.gateway_url, "--key", self.admin_key,
            "--rejects", str(rejects), *args,
        ]  # fmt: skip

    def zhihui_import(
        self, library: str, path: Path, *args: str, timeout: float = 7200
    ) -> subprocess.CompletedProcess[str]:
        """`zhihui import` of one file through the gateway with the admin key."""
        return subprocess.run(
            self.import_command(library, path, *args),
            env=self.env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def alias(self, library: str) -> str:
        """The Elasticsearch alias the gateway searches for `library`."""
        assert self.index_prefix, "the embedded backend has no aliases"
        return f"{self.index_prefix}_{library}"

    def indexer_cursors(self) -> dict[str, int]:
        """Each feed's position in the gateway's indexer (from `/readyz`)."""
        body = httpx.get(f"{self.gateway_url}/readyz", timeout=30).json()
        return {feed: int(status["cursor"]) for feed, status in body.get("indexer", {}).items()}

    def wait_indexed(self, timeout: float = 3600, poll: float = 0.2) -> float:
        """Seconds until the indexer has applied every change committed before the call."""
        started = time.monotonic()
        heads = self.feed_heads()
        while True:
            cursors = self.indexer_cursors()
            if all(cursors.get(feed, -1) >= head for feed, head in heads.items()):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"indexer at {cursors} after {timeout}s; heads {heads}")
            time.sleep(poll)


def _drop_schemas(database_url: str, schemas: list[str]) -> None:
    async def drop() -> None:
        engine = create_async_engine(database_url)
        async with engine.begin() as conn:
            for schema in schemas:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()

    asyncio.run(drop())


def _drop_indexes(elasticsearch_url: str, prefix: str) -> None:
    """Delete every index of the run by name (wildcard deletes are refused by default)."""
    found = httpx.get(
        f"{elasticsearch_url}/_cat/indices/{prefix}_*", params={"format": "json", "h": "index"}
    )
    for row in found.json() if found.status_code == 200 else []:
        httpx.delete(f"{elasticsearch_url}/{row['index']}")


@contextmanager
def platform_stack(
    *,
    database_url: str | None,
    elasticsearch_url: str | None,
    run_indexer: bool = True,
    data_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
    run: str | None = None,
    keep: bool = False,
) -> Iterator[PlatformStack]:
    """Start the whole platform as processes; stop it and drop its data on exit.

    `keep` leaves the schemas, indexes and data directory in place (the run id is in
    `stack.run`); `run` starts on those of an earlier kept run instead of fresh ones, so a
    loaded platform can be benchmarked repeatedly.
    """
    run = run or secrets.token_hex(3)
    owned_dir = data_dir is None and not keep
    data_dir = data_dir or Path(tempfile.gettempdir()) / f"zhihui-bench-{run}"
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in COMPONENTS}
    settings = {f"ZHIHUI_{n.upper()}_PORT": str(p) for n, p in ports.items()}
    schemas = [f"b{run}_{name}" for name in COMPONENTS]
    if database_url:
        settings["ZHIHUI_DATABASE_URL"] = database_url
        settings.update({f"ZHIHUI_{n.upper()}_DATABASE_SCHEMA": f"b{run}_{n}" for n in COMPONENTS})
    prefix = f"zhihui_bench_{run}" if elasticsearch_url else None
    if elasticsearch_url and prefix:
        settings["ZHIHUI_ELASTICSEARCH_URL"] = elasticsearch_url
        settings["ZHIHUI_ELASTICSEARCH_INDEX_PREFIX"] = prefix
    settings["ZHIHUI_GATEWAY_RUN_INDEXER"] = "true" if run_indexer else "false"
    settings["ZHIHUI_LOG_LEVEL"] = "WARNING"  # per-request log lines would be measured too
    env = clean_env(data_dir, **settings, **(extra_env or {}))
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        zhihui("migrate", env=env)
        for name in COMPONENTS:
            processes[name] = start_service(name, ports[name], env, data_dir / f"{name}.log")
        keys = {}
        for role in ("admin", "reader"):
            org = [] if role == "admin" else ["--org", "bench"]
            created = zhihui(
                "keys", "create", "--role", role, *org, "--name", f"bench {role}",
                "--rate-limit", str(UNLIMITED), env=env,
            )  # fmt: skip
            keys[role] = re.search(r"secret: (\S+)", created.stdout).group(1)  # type: ignore[union-attr]
        yield PlatformStack(
            run, data_dir, env, ports, keys["admin"], keys["reader"], elasticsearch_url,
            prefix, processes,
        )  # fmt: skip
    finally:
        for process in processes.values():
            stop(process)
        if keep:
            print(f"kept: run {run} (schemas b{run}_*, indexes {prefix}_*, {data_dir})")
        elif database_url:
            _drop_schemas(database_url, schemas)
        if elasticsearch_url and prefix and not keep:
            _drop_indexes(elasticsearch_url, prefix)
        if owned_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
