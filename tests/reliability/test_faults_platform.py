"""PostgreSQL restarted or SIGKILLed, the gateway SIGKILLed, a service SIGKILLed mid-import.

One private PostgreSQL cluster (tests/reliability/servers.py) holds every component's schema;
the domain services and the gateway (with its indexer, on the embedded search index) run as
`zhihui serve` processes. Clients write with the idempotent upsert and retry until each key
is acknowledged. After each fault, with no component restarted except the one killed: every
key is stored exactly once at its acknowledged version and content, the services' change
feeds agree with what is stored, and the index (read through the public list API) converges
to the stored state. During an outage clients only ever see 2xx or a 503 problem+json.
"""

from __future__ import annotations

import asyncio
import csv
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.reliability.faults_platform import Platform
from tests.reliability.faults_platform import running_platform
from tests.reliability.faults_readback import feed_changes
from tests.reliability.faults_readback import feed_problems
from tests.reliability.faults_readback import gateway_listing
from tests.reliability.faults_readback import listing_problems
from tests.reliability.faults_readback import service_records
from tests.reliability.faults_readback import wait_until_empty
from tests.reliability.faults_upserts import UpsertClients
from tests.reliability.faults_upserts import stored_problems
from tests.reliability.servers import PrivatePostgres
from tests.reliability.servers import private_postgres
from tests.reliability.summary import ReliabilityReport

pytestmark = [pytest.mark.reliability("faults"), pytest.mark.postgres]

CATCH_UP_SECONDS = 120.0
RECOVERY_SECONDS = 30.0


@pytest.fixture(scope="module")
def cluster_and_platform(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[PrivatePostgres, Platform]]:
    with (
        private_postgres() as cluster,
        running_platform(
            tmp_path_factory.mktemp("pg-faults"),
            database_url=cluster.url,
        ) as platform,
    ):
        yield cluster, platform


@pytest.fixture
def platform(cluster_and_platform: tuple[PrivatePostgres, Platform]) -> Platform:
    return cluster_and_platform[1]


@pytest.fixture
async def gateway(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=60) as client:
        yield client


async def verify_outcomes(
    platform: Platform, gateway: httpx.AsyncClient, clients: UpsertClients | None = None
) -> tuple[dict[str, dict[str, Any]], float]:
    """Stored outcomes agree with the acknowledgements and the feed, and the index converges
    to them; returns the stored records and the seconds the index took."""
    outcomes = platform.clients()["outcomes"]
    try:
        records = await service_records(outcomes, "/outcomes")
        changes = await feed_changes(outcomes)
    finally:
        await outcomes.aclose()
    assert not feed_problems(records, changes)
    if clients is not None:
        assert not stored_problems(records.values(), clients.source, clients.acknowledged)
        # Each key was created once; a retried upsert must not have added a change.
        ids = {done.record_id for done in clients.acknowledged.values()}
        per_record = Counter(c.record_id for c in changes if c.record_id in ids)
        expected_changes = {d.record_id: d.version for d in clients.acknowledged.values()}
        assert dict(per_record) == expected_changes, "feed entries per record ≠ its version"
    versions = {record_id: record["version"] for record_id, record in records.items()}

    async def problems() -> list[str]:
        hits = await gateway_listing(gateway, "outcomes", platform.admin)
        return listing_problems(hits, versions)

    return records, await wait_until_empty(problems, CATCH_UP_SECONDS, "index not converged")


# ------------------------------------------------------------------ d. PostgreSQL restarts


async def steady_load(
    clients: UpsertClients, writer: int, stop: asyncio.Event, rng: random.Random
) -> None:
    """Upserts new keys and updates earlier ones, reading each acknowledged record back."""
    mine: list[str] = []
    n = 0
    while not stop.is_set():
        n += 1
        if mine and rng.random() < 0.3:
            key = rng.choice(mine)
        else:
            key = f"w{writer}-{n}"
            mine.append(key)
        done = await clients.upsert(key, f"压力下的政策建议 {key} 第{n}稿")
        await clients.read(done.record_id)


async def restart_postgres(cluster: PrivatePostgres, mode: str) -> None:
    if mode == "fast":
        await asyncio.to_thread(cluster.stop)
    else:
        await asyncio.to_thread(cluster.kill)
    await asyncio.sleep(1.0)
    await asyncio.to_thread(cluster.start)


@pytest.mark.parametrize(
    ("mode", "seconds", "writers"),
    [
        pytest.param("fast", 3.0, 4, id="fast-shutdown"),
        pytest.param("kill", 3.0, 4, id="sigkill-postmaster"),
        pytest.param("kill", 40.0, 8, id="sigkill-postmaster-long", marks=pytest.mark.long),
    ],
)
async def test_postgres_restart_under_load_is_503_then_recovers_with_every_write(
    cluster_and_platform: tuple[PrivatePostgres, Platform],
    gateway: httpx.AsyncClient,
    reliability: ReliabilityReport,
    mode: str,
    seconds: float,
    writers: int,
) -> None:
    cluster, platform = cluster_and_platform
    pids = {name: process.pid for name, process in platform.processes.items()}
    clients = UpsertClients(gateway, platform.admin, f"pg-{mode}-{secrets.token_hex(3)}")
    stop = asyncio.Event()
    rng = random.Random(seconds)
    load = [
        asyncio.create_task(steady_load(clients, w, stop, random.Random(rng.random())))
        for w in range(writers)
    ]
    try:
        await asyncio.sleep(seconds)
        clients.outage = True
        outage_started = time.monotonic()
        await restart_postgres(cluster, mode)
        clients.outage = False
        back_up = time.monotonic()
        acknowledged_at_restart = clients.answers["acknowledged"]
        # The pools must recover by themselves: acknowledged writes resume soon.
        while clients.answers["acknowledged"] < acknowledged_at_restart + writers:
            assert time.monotonic() - back_up < RECOVERY_SECONDS, clients.answers
            await asyncio.sleep(0.1)
        recovered = time.monotonic() - back_up
        await asyncio.sleep(seconds)
    finally:
        stop.set()
        await asyncio.gather(*load, return_exceptions=True)
    for task in load:
        assert task.exception() is None, task.exception()

    assert not clients.failures, clients.failures[:10]
    assert clients.answers_in_outage["unavailable"] > 0, clients.answers_in_outage
    # Nothing was restarted but PostgreSQL.
    assert {n: p.pid for n, p in platform.processes.items()} == pids
    assert all(process.poll() is None for process in platform.processes.values())

    _records, converged = await verify_outcomes(platform, gateway, clients)
    reliability.records("faults", len(clients.acknowledged), len(clients.acknowledged))
    reliability.figure(
        "faults",
        f"postgres {mode} restart",
        f"{clients.answers['acknowledged']} writes acked, {clients.answers['read']} reads; "
        f"during {time.monotonic() - outage_started:.0f}s outage "
        f"{dict(clients.answers_in_outage)}; writes resumed {recovered:.1f}s after restart; "
        f"index converged {converged:.1f}s later",
    )


# ------------------------------------------------------------------ e. the gateway killed


@pytest.mark.parametrize(
    ("keys", "kills"),
    [
        pytest.param(200, 1, id="200-keys-1-kill"),
        pytest.param(2000, 4, id="2000-keys-4-kills", marks=pytest.mark.long),
    ],
)
async def test_gateway_sigkill_mid_request_then_retried_upserts_converge_to_one_record_each(
    platform: Platform,
    gateway: httpx.AsyncClient,
    reliability: ReliabilityReport,
    keys: int,
    kills: int,
) -> None:
    clients = UpsertClients(gateway, platform.admin, f"gw-{secrets.token_hex(3)}")
    queue: asyncio.Queue[str] = asyncio.Queue()
    for n in range(keys):
        queue.put_nowait(f"k{n}")

    async def writer() -> None:
        while not queue.empty():
            key = queue.get_nowait()
            await clients.upsert(key, f"网关中断测试 {key}")

    restarts: list[float] = []

    async def killer() -> None:
        for point in range(1, kills + 1):
            while clients.answers["acknowledged"] < keys * point // (kills + 1):  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # a counter to poll, not an event to wait on
            platform.kill("gateway")
            clients.outage = True
            restarts.append(await asyncio.to_thread(platform.start, "gateway"))
            clients.outage = False

    await asyncio.gather(killer(), *(writer() for _ in range(8)))
    assert len(clients.acknowledged) == keys
    assert clients.answers_in_outage["cut"] > 0, "no request was in flight when it was killed"
    assert not clients.failures, clients.failures[:10]

    _records, converged = await verify_outcomes(platform, gateway, clients)
    assert {d.version for d in clients.acknowledged.values()} == {1}
    reliability.records("faults", keys, len(clients.acknowledged))
    reliability.figure(
        "faults",
        f"gateway sigkill ({keys} keys, {kills} kills)",
        f"{clients.answers['cut']} requests cut, every key one record at v1; restart "
        f"{max(restarts):.1f}s; index converged {converged:.1f}s later",
    )


# ------------------------------------------------------------------ c. a service killed mid-import


def import_command(platform: Platform, path: Path, source: str) -> list[str]:
    return [
        sys.executable, "-m", "services.cli.main", "import", "outcomes", str(path),
        "--batch-size", "10", "--source", source,
        "--gateway", platform.gateway_url, "--key", platform.admin_secret,
    ]  # fmt: skip


def write_rows(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        table = csv.writer(handle)
        table.writerow(["编号", "题名", "作者", "年份", "关键词"])
        for n in range(rows):
            table.writerow(
                [n, f"关于第{n}项技术的研究报告", f"作者{n % 37}", 2000 + n % 24, "容错"]
            )


def wait_for_progress(state: Path, child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if state.exists() and any(
            f.get("row", 0) > 0 for f in orjson.loads(state.read_bytes())["files"].values()
        ):
            return
        time.sleep(0.02)
    raise AssertionError("the import made no progress to interrupt")


@pytest.mark.parametrize(
    ("rows", "down_seconds"),
    [
        pytest.param(300, 2.0, id="300-rows-down-2s"),
        pytest.param(3000, 45.0, id="3000-rows-down-45s", marks=pytest.mark.long),
    ],
)
async def test_service_sigkill_during_import_then_rerun_stores_every_row_once(
    platform: Platform,
    gateway: httpx.AsyncClient,
    reliability: ReliabilityReport,
    tmp_path: Path,
    rows: int,
    down_seconds: float,
) -> None:
    path = tmp_path / "成果.csv"
    write_rows(path, rows)
    source = f"import-{secrets.token_hex(3)}"
    child = await asyncio.to_thread(
        subprocess.Popen,
        import_command(platform, path, source),
        env=platform.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await asyncio.to_thread(wait_for_progress, tmp_path / "成果.import-state.json", child)
        platform.kill("outcomes")
        killed_at = time.monotonic()
        await asyncio.sleep(down_seconds)
        restart = await asyncio.to_thread(platform.start, "outcomes")
        out, err = await asyncio.to_thread(child.communicate, timeout=300)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait()
    # Either the client's retries bridged the outage, or it stopped and says to run again.
    assert child.returncode in (0, 3), out + err
    first_exit = child.returncode
    if first_exit == 3:
        assert "STOPPED" in out and "run the same command again" in out, out
    else:
        assert "rejected 0" in out, out

    rerun = await asyncio.to_thread(
        subprocess.run,
        import_command(platform, path, source),
        env=platform.env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "rejected 0" in rerun.stdout, rerun.stdout

    records, converged = await verify_outcomes(platform, gateway)
    mine = [r for r in records.values() if r.get("source") == source]
    keys = Counter(str(r["external_id"]) for r in mine)
    assert sorted(keys, key=int) == [str(n) for n in range(rows)], "rows missing"
    assert set(keys.values()) == {1}, "a row stored twice"
    # Written once each: a batch the dead service had committed was 'unchanged' when resent.
    assert {r["version"] for r in mine} == {1}
    reliability.records("faults", rows, len(mine))
    reliability.figure(
        "faults",
        f"outcomes sigkill during import ({rows} rows)",
        f"first run exit {first_exit} ({time.monotonic() - killed_at:.0f}s after the kill), "
        f"service restart {restart:.1f}s, rerun exit 0, index converged {converged:.1f}s later",
    )
