"""`zhihui up`: every service as its own local process on the embedded default, until Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx

from services.cli import migrations
from services.cli.samples import create_loader_key
from services.cli.samples import load_sample_data
from services.cli.samples import revoke_key
from services.kernel.db import Database
from services.kernel.settings import PlatformSettings
from services.registry import COMPONENTS
from services.registry import GATEWAY
from services.registry import ServiceSpec

READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass
class Running:
    spec: ServiceSpec
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


async def _migrate_all(platform: PlatformSettings) -> None:
    for spec in COMPONENTS:
        settings = spec.settings()
        database = Database(
            settings.resolved_database_url(platform), schema=settings.resolved_schema(), pool_size=2
        )
        try:
            await migrations.upgrade(database, spec)
        finally:
            await database.dispose()


def _start(spec: ServiceSpec, env: dict[str, str], log_dir: Path) -> Running:
    settings = spec.settings()
    if not _port_free(settings.host, settings.port):
        raise SystemExit(
            f"port {settings.port} for {spec.name} is in use; stop what runs there or set "
            f"ZHIHUI_{spec.name.upper()}_PORT to another port"
        )
    log_path = log_dir / f"{spec.name}.log"
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "serve", spec.name],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
    )
    log_file.close()
    return Running(spec, settings.base_url, process, log_path)


def _wait_ready(running: list[Running]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    pending = {r.spec.name: r for r in running}
    with httpx.Client(timeout=2.0) as http:
        while pending and time.monotonic() < deadline:
            for name, item in list(pending.items()):
                if item.process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {item.process.returncode}")
                try:
                    if http.get(f"{item.url}/readyz").status_code == 200:
                        del pending[name]
                except httpx.TransportError:
                    pass
            time.sleep(0.2)
    if pending:
        raise RuntimeError(f"not ready after {READY_TIMEOUT_SECONDS:.0f}s: {', '.join(pending)}")


def _stop(running: list[Running]) -> None:
    for item in running:
        if item.process.poll() is None:
            item.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for item in running:
        try:
            item.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            item.process.kill()
            item.process.wait()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def _load_samples(platform: PlatformSettings, gateway_url: str) -> dict[str, int]:
    settings = GATEWAY.settings()
    database = Database(settings.resolved_database_url(platform), schema=settings.resolved_schema())
    try:
        key_id, secret = await create_loader_key(database)
        try:
            return await load_sample_data(gateway_url, secret)
        finally:
            await revoke_key(database, key_id)
    finally:
        await database.dispose()


def run_up(data_dir: Path | None = None, *, sample_data: bool = False) -> int:
    """Migrate, start every service, wait until ready, print URLs, stop all on Ctrl-C."""
    if data_dir is not None:
        os.environ["ZHIHUI_DATA_DIR"] = str(data_dir)
    platform = PlatformSettings()
    data_dir = platform.data_dir.resolve()
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    backend = "PostgreSQL" if platform.database_url else f"SQLite files in {data_dir}"
    print(f"智汇中国 platform: data on {backend}", flush=True)
    asyncio.run(_migrate_all(platform))
    print("migrations applied", flush=True)

    env = {**os.environ, "ZHIHUI_DATA_DIR": str(data_dir)}
    running: list[Running] = []
    stopping = False

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for spec in COMPONENTS:
            running.append(_start(spec, env, log_dir))
        try:
            _wait_ready(running)
        except RuntimeError as exc:
            print(f"failed to start: {exc}", file=sys.stderr)
            for item in running:
                print(f"--- {item.spec.name} log ---\n{_tail(item.log_path)}", file=sys.stderr)
            return 1
        for item in running:
            print(f"  {item.spec.name:<14} {item.spec.label:<6} {item.url}", flush=True)
        if sample_data:
            counts = asyncio.run(_load_samples(platform, GATEWAY.settings().base_url))
            print("sample data: " + ", ".join(f"{n} {k}" for k, n in counts.items()), flush=True)
        print(f"API docs: {GATEWAY.settings().base_url}/docs", flush=True)
        print(f"ready; logs in {log_dir}; press Ctrl-C to stop", flush=True)
        while not stopping:
            for item in running:
                if item.process.poll() is not None:
                    print(
                        f"{item.spec.name} exited with {item.process.returncode}; stopping all\n"
                        f"{_tail(item.log_path)}",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(0.3)
        print("stopping…", flush=True)
        return 0
    finally:
        _stop(running)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if running:
            print("stopped", flush=True)
