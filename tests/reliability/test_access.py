"""Access reliability: no GET route leaks what a caller may not see, and dead keys are dead.

The sweep seeds outcomes at every visibility for two organisations, special databases at
every visibility, an expert with contact details and restricted dataset values, each carrying
unique canary strings (access_world.py). Then, for anonymous, a reader of each organisation,
an editor and an admin, it walks every GET route of the gateway's OpenAPI document (the list
comes from `app.openapi()`, so a new route fails until access_probes.ROUTES covers it) and
checks each answer: expected status and counts, no forbidden canary in body, headers or
decoded cursors, and a hidden record answered exactly like a non-existent one. It runs on
both search backends (`backend` = sqlite → embedded index, postgresql → Elasticsearch).

Keys: a key revoked through the admin API or through the key service `zhihui keys revoke`
uses, or expired, is a 401 on the very next request and on every `/api` route. Every log line
emitted during the module (root logger at DEBUG) and by a real `zhihui serve gateway` process
is searched for every key secret, its random part and its hash (access_logs.py).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import httpx
import pytest

from services.gateway.keys.service import ApiKeyService
from services.gateway.main import create_app as create_gateway
from services.gateway.models import ApiKey
from tests.e2e.processes import zhihui
from tests.gateway.conftest import MakeKey
from tests.gateway.conftest import Platform
from tests.gateway.conftest import bearer
from tests.gateway.conftest import gateway
from tests.gateway.conftest import index_now
from tests.gateway.conftest import make_key
from tests.gateway.conftest import platform
from tests.gateway.conftest import platform_clients
from tests.gateway.conftest import search
from tests.reliability.access_logs import CapturedLogs
from tests.reliability.access_logs import capture_logs
from tests.reliability.access_logs import create_key
from tests.reliability.access_logs import gateway_process
from tests.reliability.access_logs import secret_findings
from tests.reliability.access_probes import ROUTES
from tests.reliability.access_probes import Outcome
from tests.reliability.access_probes import Probe
from tests.reliability.access_probes import check
from tests.reliability.access_world import CALLERS
from tests.reliability.access_world import World
from tests.reliability.access_world import seed
from tests.reliability.summary import ReliabilityReport

# The gateway's fixtures, used by this module's tests.
__all__ = ["gateway", "index_now", "make_key", "platform", "platform_clients", "search"]

pytestmark = [
    pytest.mark.reliability("access"),
    pytest.mark.postgres,
    pytest.mark.elasticsearch,
]
CATEGORY = "access"


def openapi_get_routes() -> set[str]:
    document = create_gateway().openapi()
    return {path for path, ops in document["paths"].items() if {"get", "head"} & ops.keys()}


@pytest.fixture(scope="module")
def logs() -> CapturedLogs:
    """Every log record of the module, from before the first key is made."""
    with capture_logs() as captured:
        yield captured


@pytest.fixture(scope="module")
async def key_secrets(logs: CapturedLogs) -> list[str]:
    return []


@pytest.fixture(scope="module")
async def headers(make_key: MakeKey, key_secrets: list[str]) -> dict[str, dict[str, str]]:
    made: dict[str, dict[str, str]] = {}
    for caller, (role, org) in CALLERS.items():
        if role is None:
            made[caller] = {}
            continue
        secret = await make_key(role, org)
        key_secrets.append(secret)
        made[caller] = bearer(secret)
    return made


@pytest.fixture(scope="module")
async def world(
    gateway: httpx.AsyncClient,
    headers: dict[str, dict[str, str]],
    key_secrets: list[str],
    index_now,  # type: ignore[no-untyped-def]
) -> World:
    seeded = await seed(gateway, headers, key_secrets)
    await index_now()
    return seeded


def test_every_get_route_of_the_openapi_document_is_swept() -> None:
    routes = openapi_get_routes()
    assert routes - ROUTES.keys() == set(), "new GET routes: add them to access_probes.ROUTES"
    assert ROUTES.keys() - routes == set(), "ROUTES lists routes the gateway no longer has"


async def test_no_route_leaks_to_a_lower_role(
    gateway: httpx.AsyncClient, world: World, reliability: ReliabilityReport, backend: str
) -> None:
    started = time.perf_counter()
    outcome = Outcome()
    covered: set[str] = set()
    for caller in CALLERS:
        for route in sorted(openapi_get_routes()):
            probes = ROUTES[route](world, caller, route)
            assert probes, f"no probe for {route}"
            for probe in probes:
                await check(gateway, world, caller, probe, outcome)
            covered.add(route)
    reliability.cases(CATEGORY, outcome.requests, len(outcome.failures))
    reliability.figure(CATEGORY, "GET routes swept", f"{len(covered)} of {len(ROUTES)}")
    reliability.figure(
        CATEGORY,
        f"sweep on {backend} ({'embedded' if backend == 'sqlite' else 'Elasticsearch'})",
        f"{outcome.requests} requests, {len(CALLERS)} callers, "
        f"{time.perf_counter() - started:.1f} s",
    )
    assert not outcome.failures, "\n".join(outcome.failures[:40])


def _api_requests(world: World) -> list[Probe]:
    """One request per `/api` GET route, as the admin's first probe of it."""
    return [
        ROUTES[route](world, "admin", route)[0]
        for route in sorted(openapi_get_routes())
        if route.startswith("/api/")
    ]


async def test_dead_keys_are_401_at_once_on_every_api_route(
    gateway: httpx.AsyncClient,
    world: World,
    platform: Platform,
    make_key: MakeKey,
    key_secrets: list[str],
    reliability: ReliabilityReport,
) -> None:
    requests = _api_requests(world)
    assert len(requests) == len([r for r in ROUTES if r.startswith("/api/")])

    async def revoke_by_admin_api(key_id: str) -> None:
        response = await gateway.delete(
            f"/api/v1/admin/keys/{key_id}", headers=world.headers["admin"]
        )
        assert response.status_code == 200 and response.json()["revoked_at"]

    async def revoke_like_the_cli(key_id: str) -> None:
        async with platform.gateway_db.sessionmaker() as session:
            await ApiKeyService(session).revoke(key_id)  # what `zhihui keys revoke` runs
            await session.commit()

    async def expire(key_id: str) -> None:
        async with platform.gateway_db.sessionmaker() as session:
            key = await session.get(ApiKey, key_id)
            assert key is not None
            key.expires_at = datetime.now(UTC) - timedelta(seconds=1)
            await session.commit()

    kills = {
        "revoked (admin API)": (revoke_by_admin_api, "revoked"),
        "revoked (key service)": (revoke_like_the_cli, "revoked"),
        "expired": (expire, "expired"),
    }
    failures: list[str] = []
    sent = 0
    for how, (kill, reason) in kills.items():
        secret = await make_key("editor", "cast", expires_at=datetime.now(UTC) + timedelta(days=1))
        key_secrets.append(secret)
        first = next(r for r in requests if r.route == "/api/v1/outcomes")
        alive = await gateway.get(first.url, params=first.params, headers=bearer(secret))
        assert alive.status_code == 200, (how, alive.text)
        await kill("key_" + secret[4:24])
        # The very next request, then every other route: 401, never anonymous answers.
        for probe in requests:
            response = await gateway.get(probe.url, params=probe.params, headers=bearer(secret))
            sent += 1
            body = response.json() if response.status_code == 401 else {}
            if response.status_code != 401 or reason not in body.get("detail", ""):
                failures.append(
                    f"{how}: {probe.url} -> {response.status_code} {response.text[:120]}"
                )
            elif not response.headers.get("www-authenticate", "").startswith("Bearer"):
                failures.append(f"{how}: {probe.url} 401 without WWW-Authenticate")
    reliability.cases(CATEGORY, sent, len(failures))
    assert not failures, "\n".join(failures)


def test_no_key_secret_or_hash_in_any_log_line(
    world: World, logs: CapturedLogs, key_secrets: list[str], reliability: ReliabilityReport
) -> None:
    access_lines = [line for line in logs.lines if line.startswith("zhihui.access ")]
    assert len(access_lines) > 1000, "expected the gateway's access log lines of the sweep"
    assert len(key_secrets) >= 7
    findings = secret_findings(logs.lines, key_secrets)
    reliability.cases(CATEGORY, len(logs.lines), len(findings))
    assert not findings, "\n".join(findings[:20])


def test_a_real_gateway_process_logs_no_key_secret(
    tmp_path,  # type: ignore[no-untyped-def]
    reliability: ReliabilityReport,
) -> None:
    with gateway_process(tmp_path) as (url, env, log):
        _admin_id, admin = asyncio.run(create_key(tmp_path, "admin", None))
        reader_id, reader = asyncio.run(create_key(tmp_path, "reader", "cast"))
        wrong = reader[:-8] + ("BBBBBBBB" if reader.endswith("AAAAAAAA") else "AAAAAAAA")
        secrets = [admin, reader, wrong]
        with httpx.Client(base_url=url, timeout=30) as http:

            def status(method: str, path: str, secret: str, **kwargs: object) -> int:
                response = http.request(method, path, headers=bearer(secret), **kwargs)  # type: ignore[arg-type]
                return response.status_code

            # the upstream-failure path: no domain service runs
            assert status("GET", "/api/v1/outcomes/out_zzzzzzzzzzzzzzzzzzzz", reader) == 503
            assert status("GET", "/api/v1/outcomes", reader, params={"q": "治理"}) == 200
            assert status("GET", "/api/v1/admin/keys", reader) == 403
            assert status("GET", "/api/v1/outcomes", wrong) == 401
            made = http.post(
                "/api/v1/admin/keys",
                json={"name": "made through the API", "role": "reader", "org": "cast"},
                headers=bearer(admin),
            )
            assert made.status_code == 201, made.text
            secrets.append(made.json()["secret"])
            assert status("GET", "/api/v1/outcomes", secrets[-1]) == 200
            assert status("DELETE", f"/api/v1/admin/keys/{made.json()['id']}", admin) == 200
            assert status("GET", "/api/v1/outcomes", secrets[-1]) == 401  # the very next one
            zhihui("keys", "revoke", reader_id, env=env)
            revoked = http.get("/api/v1/outcomes", headers=bearer(reader))
            assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    lines = log.read_text(encoding="utf-8").splitlines()
    access = [line for line in lines if '"logger":"zhihui.access"' in line]
    assert len(access) >= 10 and any('"status":401' in line for line in access), lines[-20:]
    assert any('"level":"debug"' in line for line in lines), "the gateway ran at DEBUG"
    findings = secret_findings(lines, secrets)
    reliability.cases(CATEGORY, len(lines), len(findings))
    assert not findings, "\n".join(findings[:20])
