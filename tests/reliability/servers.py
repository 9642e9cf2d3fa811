"""Private PostgreSQL and Elasticsearch instances that a fault test may stop, kill and restart.

Each instance runs from `deploy/scripts/{postgres,elasticsearch}.sh` with its own
`ZHIHUI_STATE_DIR` (a fresh directory under /var/tmp, readable by the servers' system accounts
when we run as root) and free ports, so the shared servers other tests use are never touched.
The Elasticsearch zip comes from the usual cache (`ZHIHUI_CACHE_DIR` is left alone), so
nothing is downloaded. `close()` stops the server and removes the state directory; the
context managers call it in `finally`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from tests.e2e.processes import free_port

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "deploy" / "scripts"
SCRIPT_TIMEOUT_SECONDS = 240.0
EXIT_WAIT_SECONDS = 30.0


def _state_dir(kind: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"zhihui-faults-{kind}-", dir="/var/tmp"))
    path.chmod(0o755)  # the servers run as their own accounts when we are root
    return path


def _script_env(state_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIHUI_")}
    if "ZHIHUI_CACHE_DIR" in os.environ:
        env["ZHIHUI_CACHE_DIR"] = os.environ["ZHIHUI_CACHE_DIR"]
    env["ZHIHUI_STATE_DIR"] = str(state_dir)
    env.update(settings)
    return env


def _run(script: str, command: str, env: dict[str, str]) -> None:
    result = subprocess.run(
        [str(SCRIPTS / script), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"{script} {command} failed:\n{result.stderr[-3000:]}"


def _wait_gone(pids: list[int], within: float = EXIT_WAIT_SECONDS) -> list[int]:
    """Waits for the processes to exit; returns those still alive after `within` s."""
    deadline = time.monotonic() + within
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if psutil.pid_exists(pid) and not _zombie(pid)]
        time.sleep(0.05)
    return alive


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class PrivateElasticsearch:
    """A single-node Elasticsearch on free ports under its own state dir."""

    def __init__(self) -> None:
        self.state_dir = _state_dir("es")
        self.port = free_port()
        self.env = _script_env(
            self.state_dir,
            ZHIHUI_ES_PORT=str(self.port),
            ZHIHUI_ES_TRANSPORT_PORT=str(free_port()),
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pid_file(self) -> Path:
        found = sorted(self.state_dir.glob("elasticsearch-*/elasticsearch.pid"))
        assert found, f"no elasticsearch.pid under {self.state_dir}"
        return found[0]

    def pid(self) -> int:
        return int(self.pid_file().read_text().strip())

    def start(self) -> float:
        """Starts the node and waits until it is healthy; returns the seconds it took."""
        started = time.monotonic()
        _run("elasticsearch.sh", "start", self.env)
        return time.monotonic() - started

    def stop(self) -> None:
        _run("elasticsearch.sh", "stop", self.env)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would; returns once the JVM has exited."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        assert not _wait_gone([pid]), f"elasticsearch pid {pid} survived SIGKILL"
        # A killed node leaves its pid file behind; the script would wait on a stale pid.
        self.pid_file().unlink(missing_ok=True)

    def close(self) -> None:
        try:
            if any(self.state_dir.glob("elasticsearch-*/elasticsearch.pid")):
                self.stop()
        finally:
            shutil.rmtree(self.state_dir, ignore_errors=True)


class PrivatePostgres:
    """A PostgreSQL cluster on a free port under its own state dir."""

    def __init__(self) -> None:
        self.state_dir = _state_dir("pg")
        self.port = free_port()
        self.env = _script_env(self.state_dir, ZHIHUI_PG_PORT=str(self.port))

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://zhihui:zhihui@127.0.0.1:{self.port}/zhihui_test"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "postgres" / "data"

    def postmaster_pid(self) -> int:
        return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])

    def start(self) -> float:
        """Starts (initialising on first use) and waits for connections; returns seconds."""
        started = time.monotonic()
        _run("postgres.sh", "start", self.env)
        return time.monotonic() - started

    def stop(self) -> None:
        """`pg_ctl stop -m fast`: sessions are cut, a clean checkpoint is written."""
        _run("postgres.sh", "stop", self.env)

    def kill(self) -> None:
        """SIGKILL to the postmaster; its backends notice and exit (any left are killed too),
        so the next start runs crash recovery from the WAL."""
        pid = self.postmaster_pid()
        children = [child.pid for child in psutil.Process(pid).children(recursive=True)]
        os.kill(pid, signal.SIGKILL)
        assert not _wait_gone([pid]), f"postmaster {pid} survived SIGKILL"
        for leftover in _wait_gone(children, within=10.0):
            os.kill(leftover, signal.SIGKILL)
        assert not _wait_gone(children), "postgres backends survived SIGKILL"
        # Our init may not reap the dead postmaster; a zombie would make its pid file look
        # live to the next start, so the lock files go (the process is verifiably gone).
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        (self.state_dir / "postgres" / "run" / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)

    def close(self) -> None:
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.state_dir, ignore_errors=True)


@contextmanager
def private_elasticsearch() -> Iterator[PrivateElasticsearch]:
    """A started private node, stopped and deleted afterwards whatever happens."""
    node = PrivateElasticsearch()
    try:
        node.start()
        yield node
    finally:
        node.close()


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private cluster, stopped and deleted afterwards whatever happens."""
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
