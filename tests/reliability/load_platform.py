"""The platform under load, for real: processes, schemas, index prefix, keys, and the corpus.

`running_platform` starts the four domain services and the gateway as `zhihui serve`
processes on the shared PostgreSQL (fresh schemas) and Elasticsearch (a fresh index prefix),
the gateway running its change-feed indexer, and removes all of it afterwards; `seed` loads
MoE universities, CSL papers and fictional experts through the bulk endpoints.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import subprocess
import time
from collections.abc import AsyncIterator
from collections.abc import Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from services.cli import migrations
from services.gateway.indexer.sink import DATASETS
from services.gateway.search.backends.elasticsearch import ElasticsearchBackend
from services.gateway.search.libraries import LIBRARY_SCHEMAS
from services.kernel.db import Database
from services.registry import COMPONENTS
from tests.data import SHARED_DATA
from tests.data import universities
from tests.e2e.processes import DOMAIN_SERVICES
from tests.e2e.processes import clean_env
from tests.e2e.processes import create_admin_key
from tests.e2e.processes import free_port
from tests.e2e.processes import spawn_service
from tests.e2e.processes import stop
from tests.e2e.processes import wait_ready

CSL = SHARED_DATA / "csl-benchmark" / "csl_benchmark_2000.jsonl"
ORGS = ("cast", "csae")
# The reader and editor keys belong to this organisation.
OWN_ORG = "cast"
# (visibility, owner) of seeded outcomes, in rotation: mostly public, some restricted.
OUTCOME_ACCESS = (
    ("public", "cast"),
    ("public", "csae"),
    ("partner", "cast"),
    ("internal", "cast"),
    ("public", "cast"),
    ("internal", "csae"),
    ("partner", "csae"),
)
OUTCOME_TYPES = ("paper", "paper", "research_report", "paper", "policy_brief", "paper")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("建国", "晓明", "海峰", "丽", "磊", "静", "志强", "雪梅", "文博", "子涵", "宇", "欣怡")
TITLES = ("教授", "研究员", "副教授", "副研究员", "高级工程师")
BULK_LINES = 1000

# ---------------------------------------------------------------- the platform, for real


@dataclass
class LoadPlatform:
    """Services and gateway as processes; what the load needs to reach and watch them."""

    data_dir: Path
    env: dict[str, str]
    gateway_url: str
    index_prefix: str
    schemas: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    def log_tail(self, name: str, chars: int = 2000) -> str:
        return (self.data_dir / f"{name}.log").read_text(errors="replace")[-chars:]


@asynccontextmanager
async def running_platform(
    data_dir: Path, postgres_url: str, elasticsearch_url: str
) -> AsyncIterator[LoadPlatform]:
    """Everything under a fresh tag: schemas `load<tag>_<component>`, indices `zhihui_load<tag>_*`;
    processes stopped, schemas and indices dropped afterwards."""
    tag = secrets.token_hex(3)
    names = (*DOMAIN_SERVICES, "gateway")
    ports = {name: free_port() for name in names}
    schemas = {name: f"load{tag}_{name}" for name in names}
    prefix = f"zhihui_load{tag}"
    env = clean_env(
        data_dir,
        ZHIHUI_DATABASE_URL=postgres_url,
        ZHIHUI_ELASTICSEARCH_URL=elasticsearch_url,
        ZHIHUI_ELASTICSEARCH_INDEX_PREFIX=prefix,
        # Workers of one loopback client must not be throttled as one anonymous IP.
        ZHIHUI_GATEWAY_ANONYMOUS_RATE_LIMIT="100000",
        ZHIHUI_GATEWAY_RUN_INDEXER="true",
        ZHIHUI_LOG_LEVEL="WARNING",
        **{f"ZHIHUI_{n.upper()}_PORT": str(p) for n, p in ports.items()},
        **{f"ZHIHUI_{n.upper()}_DATABASE_SCHEMA": s for n, s in schemas.items()},
    )
    gateway_url = f"http://127.0.0.1:{ports['gateway']}"
    platform = LoadPlatform(data_dir, env, gateway_url, prefix, schemas)
    try:
        # Migrated here rather than by `zhihui migrate`: one interpreter start less.
        for spec in COMPONENTS:
            database = Database(postgres_url, schema=schemas[spec.name], pool_size=1)
            try:
                await migrations.upgrade(database, spec)
            finally:
                await database.dispose()
        # All start side by side: interpreter start-up and imports dominate. The gateway
        # is ready without its services (a down service degrades only its library) and its
        # indexer retries their feeds until they answer.
        for name in names:
            platform.processes[name] = spawn_service(
                name, ports[name], env, data_dir / f"{name}.log"
            )
        for name in names:
            url = f"http://127.0.0.1:{ports[name]}"
            log = data_dir / f"{name}.log"
            await asyncio.to_thread(wait_ready, url, platform.processes[name], log, 60)
        await _assert_own_indices(elasticsearch_url, prefix)
        yield platform
    finally:
        for process in platform.processes.values():
            process.terminate()  # all at once: their graceful shutdowns overlap
        for process in platform.processes.values():
            await asyncio.to_thread(stop, process)
        await _drop_schemas(postgres_url, schemas.values())
        backend = ElasticsearchBackend(elasticsearch_url, index_prefix=prefix)
        try:
            for library in (*LIBRARY_SCHEMAS, DATASETS):
                await backend.drop_library(library)
        finally:
            await backend.close()


async def _assert_own_indices(elasticsearch_url: str, prefix: str) -> None:
    """The gateway made its libraries under our prefix (else it writes the shared `zhihui_*`)."""
    async with httpx.AsyncClient(timeout=10) as es:
        response = await es.get(f"{elasticsearch_url}/_cat/aliases/{prefix}_*?format=json")
    assert response.status_code == 200 and response.json(), (
        f"no alias {prefix}_*: the gateway ignored ZHIHUI_ELASTICSEARCH_INDEX_PREFIX"
    )


async def _drop_schemas(postgres_url: str, schemas: Any) -> None:
    database = Database(postgres_url, schema="public", pool_size=1)
    try:
        async with database.engine.begin() as conn:
            for schema in schemas:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await database.dispose()


async def admin_headers(platform: LoadPlatform, postgres_url: str) -> dict[str, str]:
    """An admin key straight in the gateway's schema (what `zhihui keys create` does)."""
    database = Database(postgres_url, schema=platform.schemas["gateway"], pool_size=1)
    try:
        return await create_admin_key(database, rate_limit=100_000)
    finally:
        await database.dispose()


async def create_key(http: httpx.AsyncClient, admin: Mapping[str, str], role: str) -> str:
    body = {"name": f"load {role}", "role": role, "org": OWN_ORG, "rate_limit": 100_000}
    response = await http.post("/api/v1/admin/keys", json=body, headers=dict(admin))
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


# ---------------------------------------------------------------- the corpus


@dataclass
class Seeded:
    """One seeded or written record: enough to read it and to predict who may see it."""

    library: str
    id: str
    visibility: str = "public"
    owner_org: str = OWN_ORG


@dataclass
class Corpus:
    records: dict[str, list[Seeded]]  # by library
    keywords: list[str]  # CSL keywords, the query vocabulary
    provinces: list[str]
    university_names: list[str]
    areas: list[str]
    rejected: int = 0

    @property
    def size(self) -> int:
        return sum(len(r) for r in self.records.values())


def csl_papers() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CSL.read_text(encoding="utf-8").splitlines() if line]


def outcome_body(i: int, paper: dict[str, Any]) -> dict[str, Any]:
    visibility, owner = OUTCOME_ACCESS[i % len(OUTCOME_ACCESS)]
    return {
        "source": "csl",
        "external_id": paper["id"],
        "title": paper["title"],
        "abstract": paper["abstract"],
        "keywords": paper["keywords"],
        "type": OUTCOME_TYPES[i % len(OUTCOME_TYPES)],
        "published_on": f"{2008 + i % 16}-{i % 12 + 1:02d}-{i % 28 + 1:02d}",
        "language": "zh",
        "visibility": visibility,
        "owner_org": owner,
    }


async def _bulk(
    http: httpx.AsyncClient, admin: Mapping[str, str], library: str, bodies: list[dict[str, Any]]
) -> tuple[list[tuple[int, str]], int]:
    """(body index, id) of every accepted line, and how many lines were rejected."""
    accepted: list[tuple[int, str]] = []
    rejected = 0
    headers = {**admin, "Content-Type": "application/x-ndjson"}
    for start in range(0, len(bodies), BULK_LINES):
        chunk = bodies[start : start + BULK_LINES]
        payload = "\n".join(json.dumps(b, ensure_ascii=False) for b in chunk) + "\n"
        response = await http.post(
            f"/api/v1/{library}/bulk", content=payload.encode(), headers=headers, timeout=300
        )
        assert response.status_code == 200, response.text[:500]
        for result in response.json()["results"]:
            if result["status"] == "rejected":
                rejected += 1
            else:
                accepted.append((start + result["line"] - 1, result["id"]))
    return accepted, rejected


def spread(items: list[Any], n: int) -> list[Any]:
    """`n` items taken evenly across `items` (every province, every CSL discipline)."""
    n = min(n, len(items))
    return [items[i * len(items) // n] for i in range(n)]


async def seed(
    http: httpx.AsyncClient,
    admin: Mapping[str, str],
    *,
    n_institutions: int = 2820,
    n_outcomes: int = 2000,
    n_experts: int = 400,
) -> Corpus:
    """Universities of the MoE list, CSL papers and fictional experts, through bulk upserts."""
    unis = spread(universities(), n_institutions)
    institution_bodies = [
        {"source": "moe", "external_id": name, "name": name, "type": "university",
         "province": province, "owner_org": OWN_ORG}
        for name, province in unis
    ]  # fmt: skip
    papers = spread(csl_papers(), n_outcomes)
    outcome_bodies = [outcome_body(i, p) for i, p in enumerate(papers)]
    (institutions, rejected_i), (outcomes, rejected_o) = await asyncio.gather(
        _bulk(http, admin, "institutions", institution_bodies),
        _bulk(http, admin, "outcomes", outcome_bodies),
    )
    areas = sorted({k for p in papers for k in p["keywords"] if 2 <= len(k) <= 8})
    rng = random.Random(7)
    expert_bodies = []
    for n in range(n_experts):
        at = institutions[(n * 37) % len(institutions)][1]
        name = SURNAMES[n % len(SURNAMES)] + GIVEN[(n // len(SURNAMES)) % len(GIVEN)]
        chosen = rng.sample(areas, 3)
        expert_bodies.append(
            {"source": "load", "external_id": f"e{n}", "name": name,
             "title": TITLES[n % len(TITLES)], "research_areas": chosen,
             "affiliations": [{"institution_id": at, "primary": True}],
             "bio": f"{name}，主要从事{'、'.join(chosen)}研究。", "owner_org": ORGS[n % 2]}
        )  # fmt: skip
    experts, rejected_e = await _bulk(http, admin, "experts", expert_bodies)
    records = {
        "institutions": [Seeded("institutions", rid) for _, rid in institutions],
        "experts": [Seeded("experts", rid, owner_org=ORGS[i % 2]) for i, rid in experts],
        "outcomes": [
            Seeded("outcomes", rid, *OUTCOME_ACCESS[i % len(OUTCOME_ACCESS)]) for i, rid in outcomes
        ],
    }
    return Corpus(
        records=records,
        keywords=sorted({k for p in papers for k in p["keywords"]}),
        provinces=sorted({p for _, p in unis}),
        university_names=[n for n, _ in unis],
        areas=areas,
        rejected=rejected_i + rejected_o + rejected_e,
    )


async def wait_indexed(http: httpx.AsyncClient, admin: Mapping[str, str], corpus: Corpus) -> float:
    """Seconds until every seeded library's count in the index equals what was loaded."""
    started = time.monotonic()
    while True:
        counts = {}
        for library in corpus.records:
            response = await http.get(
                f"/api/v1/{library}", params={"page_size": 1}, headers=dict(admin)
            )
            counts[library] = response.json()["meta"]["count"] if response.is_success else -1
        if all(counts[lib] == len(records) for lib, records in corpus.records.items()):
            return time.monotonic() - started
        assert time.monotonic() - started < 120, f"seed not indexed after 120 s: {counts}"
        await asyncio.sleep(0.5)
