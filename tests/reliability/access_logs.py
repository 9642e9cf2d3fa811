"""Logs for the access tests: capture in process, real gateway processes, secret search."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.cli import migrations
from services.gateway.keys.schemas import KeyCreate
from services.gateway.keys.schemas import KeyRole
from services.gateway.keys.service import ApiKeyService
from services.kernel.db import Database
from services.kernel.logging import PARAMETER_LOGGERS
from services.registry import service_named
from tests.e2e.processes import clean_env
from tests.e2e.processes import free_port
from tests.e2e.processes import start_service
from tests.e2e.processes import stop


class CapturedLogs(logging.Handler):
    """Keeps each record's message and extra fields as text, formatted when emitted."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a broken record must not hide the others
            message = f"{record.msg!r} {record.args!r}"
        extra = {k: v for k, v in record.__dict__.items() if k not in ("msg", "args")}
        self.lines.append(f"{record.name} {message} {extra}")


# Connection-level DEBUG chatter of the HTTP clients (several lines per request, which
# doubles the sweep's time). They only carry the gateway's internal calls, never a caller's
# key, and the real-process test reads them at DEBUG anyway.
TRANSPORT_LOGGERS = ("httpcore", "elastic_transport")


@contextmanager
def capture_logs() -> Iterator[CapturedLogs]:
    """Every logger's records at DEBUG, through a handler on the root logger, with the
    level policy `configure_logging` applies in every process (PARAMETER_LOGGERS)."""
    root = logging.getLogger()
    handler = CapturedLogs()
    quiet = (*PARAMETER_LOGGERS, *TRANSPORT_LOGGERS)
    levels = {name: logging.getLogger(name).level for name in ("", *quiet)}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def secret_forms(secret: str) -> dict[str, str]:
    """A key secret, its random part, and the SHA-256 hash that is stored."""
    return {
        secret: "secret",
        secret[len("zhk_") + 21 :]: "random part of the secret",  # zhk_<key id body>_<random>
        hashlib.sha256(secret.encode()).hexdigest(): "stored hash",
    }


def secret_findings(lines: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """`what: line` for each line that contains a form of one of the secrets."""
    forms: dict[str, str] = {}
    for secret in secrets:
        forms.update(secret_forms(secret))
    return [
        f"{what}: {line[:300]}" for line in lines for form, what in forms.items() if form in line
    ]


# ------------------------------------------------------------------------------ real processes


@contextmanager
def gateway_process(data_dir: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """`zhihui serve gateway` at DEBUG on SQLite and the embedded index (no domain service
    runs: record reads take the upstream-failure path). Yields its URL, its environment
    (for `zhihui keys`) and its log file, complete once the block exits."""
    port = free_port()
    env = clean_env(data_dir, ZHIHUI_LOG_LEVEL="DEBUG", ZHIHUI_GATEWAY_PORT=str(port))
    asyncio.run(_migrate_gateway(data_dir))  # in process: a `zhihui migrate` costs seconds
    log = data_dir / "gateway.log"
    process = start_service("gateway", port, env, log)
    try:
        yield f"http://127.0.0.1:{port}", env, log
    finally:
        stop(process)


async def _migrate_gateway(data_dir: Path) -> None:
    database = _gateway_database(data_dir)
    try:
        await migrations.upgrade(database, service_named("gateway"))
    finally:
        await database.dispose()


def _gateway_database(data_dir: Path) -> Database:
    return Database(f"sqlite+aiosqlite:///{data_dir / 'gateway.sqlite'}")


async def create_key(data_dir: Path, role: str, org: str | None) -> tuple[str, str]:
    """A key made by the key service `zhihui keys create` runs, on the process's database."""
    database = _gateway_database(data_dir)
    try:
        async with database.sessionmaker() as session:
            key, secret = await ApiKeyService(session).create(
                KeyCreate(name=f"access {role}", role=KeyRole(role), org=org),
                default_rate_limit=10_000,
                created_by="tests",
            )
            await session.commit()
    finally:
        await database.dispose()
    return key.id, secret
