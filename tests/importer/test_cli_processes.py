"""The `zhihui import` command itself against the platform as real processes: Ctrl-C, resume.

The services and the gateway run as `zhihui serve` processes on SQLite files (the embedded
default); the import is a child process interrupted with SIGINT mid-way, then run again.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.e2e.processes import clean_env
from tests.e2e.processes import free_port
from tests.e2e.processes import spawn_service
from tests.e2e.processes import stop
from tests.e2e.processes import wait_ready
from tests.e2e.processes import zhihui

ROWS = 600


@dataclass
class Platform:
    data_dir: Path
    env: dict[str, str]
    url: str
    key: str


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """Every service and the gateway, started side by side (faster than one by one)."""
    data_dir = tmp_path_factory.mktemp("platform")
    names = ("institutions", "experts", "outcomes", "datasets", "gateway")
    ports = {name: free_port() for name in names}
    env = clean_env(
        data_dir,
        ZHIHUI_GATEWAY_RUN_INDEXER="false",
        **{f"ZHIHUI_{n.upper()}_PORT": str(p) for n, p in ports.items()},
    )
    zhihui("migrate", env=env)
    processes = {n: spawn_service(n, p, env, data_dir / f"{n}.log") for n, p in ports.items()}
    try:
        for name, process in processes.items():
            wait_ready(f"http://127.0.0.1:{ports[name]}", process, data_dir / f"{name}.log")
        created = zhihui("keys", "create", "--role", "admin", "--name", "import test", env=env)
        key = re.search(r"secret: (\S+)", created.stdout)
        assert key, created.stdout
        yield Platform(data_dir, env, f"http://127.0.0.1:{ports['gateway']}", key.group(1))
    finally:
        for process in processes.values():
            stop(process)


def import_command(platform: Platform, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "services.cli.main", "import", *args,
        "--gateway", platform.url, "--key", platform.key,
    ]  # fmt: skip


def stored(platform: Platform, source: str) -> list[tuple[str, int]]:
    with sqlite3.connect(platform.data_dir / "outcomes.sqlite") as db:
        return db.execute(
            "SELECT external_id, version FROM outcomes WHERE source = ? AND deleted_at IS NULL",
            (source,),
        ).fetchall()


def test_ctrl_c_then_the_same_command_finishes_without_duplicates_or_gaps(
    running: Platform, tmp_path: Path
) -> None:
    path = tmp_path / "成果.csv"
    lines = ["编号,题名,作者,年份,关键词"]
    lines += [f"{i},关于第{i}项技术的研究报告,作者{i % 37},{2000 + i % 24},关键词{i % 11}"
              for i in range(ROWS)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="gbk")
    state = tmp_path / "成果.import-state.json"
    args = [str(path), "--batch-size", "5", "--source", "cli-ctrl-c"]

    child = subprocess.Popen(
        import_command(running, "outcomes", *args),
        env=running.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if state.exists() and orjson.loads(state.read_bytes())["files"]:
            break
        time.sleep(0.02)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, (out, err)
    assert "run the same command again" in err
    saved = next(iter(orjson.loads(state.read_bytes())["files"].values()))
    assert 0 < saved["row"] <= ROWS and not saved["complete"]
    assert len(stored(running, "cli-ctrl-c")) < ROWS

    finished = subprocess.run(
        import_command(running, "outcomes", *args),
        env=running.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert f"resumed after row {saved['row']}" in finished.stdout
    assert "rejected 0" in finished.stdout and "records/s" in finished.stdout
    assert "成果.csv: " in finished.stderr  # plain progress lines (no terminal)
    rows = stored(running, "cli-ctrl-c")
    assert sorted(int(key) for key, _ in rows) == list(range(ROWS))
    assert {version for _, version in rows} == {1}

    again = subprocess.run(
        import_command(running, "outcomes", *args),
        env=running.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert again.returncode == 0 and f"unchanged {ROWS}" in again.stdout, again.stdout
    assert os.path.exists(tmp_path / "成果.rejects.csv")
