"""Records through the gateway: forwarding, ETags, roles, down services, limits, CORS, docs."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from services.gateway.config import GatewaySettings
from services.gateway.main import create_app as create_gateway
from services.gateway.search.components import SearchComponents
from services.institutions.models import TABLES as INSTITUTIONS_TABLES
from services.kernel.http import ServiceClient
from tests.conftest import TEST_INTERNAL_TOKEN
from tests.conftest import asgi_client
from tests.gateway.conftest import MakeKey
from tests.gateway.conftest import Platform
from tests.gateway.conftest import bearer
from tests.institutions.helpers import TSINGHUA_ROR
from tests.institutions.helpers import assert_problem


async def test_record_lifecycle_through_the_gateway(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    created = await gateway.post(
        "/api/v1/institutions",
        json={"name": "中国科学院大学", "type": "university", "region_code": "110000"},
        headers=keys["editor"],
    )
    assert created.status_code == 201, created.text
    record = created.json()
    path = f"/api/v1/institutions/{record['id']}"
    assert created.headers["location"] == path and created.headers["etag"] == '"v1"'
    assert record["owner_org"] == "cast" and record["province"] == "北京市"

    read = await gateway.get(path)  # anonymous: institutions are public
    assert read.status_code == 200 and read.json()["name"] == "中国科学院大学"
    assert read.headers["etag"] == '"v1"'

    patched = await gateway.patch(
        path, json={"acronyms": ["国科大", "UCAS"]}, headers={**keys["editor"], "If-Match": '"v1"'}
    )
    assert patched.status_code == 200 and patched.headers["etag"] == '"v2"'
    stale = await gateway.patch(
        path, json={"city": "x"}, headers={**keys["editor"], "If-Match": '"v1"'}
    )
    problem = assert_problem(stale, 412)
    assert problem["instance"] == path  # the public path, not the service's

    foreign = await gateway.patch(
        path, json={"city": "x"}, headers={**keys["editor_other"], "If-Match": '"v2"'}
    )
    assert_problem(foreign, 403)
    deleted = await gateway.delete(path, headers={**keys["admin"], "If-Match": '"v2"'})
    assert deleted.status_code == 204
    assert_problem(await gateway.get(path), 410)


async def test_writes_need_editor_or_admin(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    assert_problem(await gateway.post("/api/v1/institutions", json={"name": "匿名"}), 401)
    assert_problem(
        await gateway.post("/api/v1/institutions", json={"name": "只读"}, headers=keys["reader"]),
        403,
    )
    upsert = "/api/v1/institutions/sources/cast-2024/17"
    assert_problem(await gateway.put(upsert, json={"name": "只读"}, headers=keys["reader"]), 403)
    first = await gateway.put(
        upsert, json={"name": "中国科协创新战略研究院"}, headers=keys["admin"]
    )
    again = await gateway.put(
        upsert, json={"name": "中国科协创新战略研究院"}, headers=keys["admin"]
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["zhihui-upsert"] == "unchanged"


async def test_bad_input_is_refused_at_the_gateway_with_the_field_named(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    bad = await gateway.post(
        "/api/v1/institutions",
        json={"name": "x", "uscc": "12100000400000624E"},
        headers=keys["admin"],
    )
    assert_problem(bad, 422, "uscc")
    malformed = await gateway.post(
        "/api/v1/institutions",
        content=b"{oops",
        headers={**keys["admin"], "content-type": "application/json"},
    )
    assert_problem(malformed, 400)
    huge = await gateway.post(
        "/api/v1/institutions", content=b"x" * (11 * 1024 * 1024), headers=keys["admin"]
    )
    assert_problem(huge, 413)
    by_ror = await gateway.get(f"/api/v1/institutions/ror:{TSINGHUA_ROR}")
    assert_problem(by_ror, 404)


async def test_request_id_reaches_the_service_and_its_change_feed(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], platform: Platform
) -> None:
    created = await gateway.post(
        "/api/v1/institutions",
        json={"name": "请求编号测试机构"},
        headers={**keys["admin"], "X-Request-ID": "partner-trace-42"},
    )
    assert created.headers["x-request-id"] == "partner-trace-42"
    async with platform.services["institutions"].sessionmaker() as session:
        change = (
            await session.execute(
                select(INSTITUTIONS_TABLES.change).where(
                    INSTITUTIONS_TABLES.change.record_id == created.json()["id"]
                )
            )
        ).scalar_one()
    assert change.request_id == "partner-trace-42"


async def test_a_down_service_is_503_with_retry_after(
    platform: Platform,
    platform_settings,  # type: ignore[no-untyped-def]
    keys: dict[str, dict[str, str]],
    search: SearchComponents,
) -> None:
    dead = {
        "institutions": ServiceClient("institutions", "http://127.0.0.1:9", TEST_INTERNAL_TOKEN)
    }
    app = create_gateway(
        GatewaySettings(run_indexer=False),
        platform_settings,
        platform.gateway_db,
        dead,
        search=search,
    )
    async with asgi_client(app, "http://gateway") as http:
        read = await http.get("/api/v1/institutions/ins_zzzzzzzzzzzzzzzzzzzz")
        body = assert_problem(read, 503)
        assert read.headers["retry-after"] == "5" and "institutions" in body["detail"]
        write = await http.post("/api/v1/institutions", json={"name": "x"}, headers=keys["admin"])
        assert_problem(write, 503)
        ready = await http.get("/readyz")
        assert ready.json()["checks"]["institutions"] == "unavailable"


async def test_rate_limit_per_key_and_per_ip(
    platform: Platform,
    platform_settings,  # type: ignore[no-untyped-def]
    make_key: MakeKey,
    search: SearchComponents,
) -> None:
    secret = await make_key("reader", "cast", rate_limit=3)
    app = create_gateway(
        GatewaySettings(anonymous_rate_limit=2, run_indexer=False),
        platform_settings,
        platform.gateway_db,
        {},
        search=search,
    )
    async with asgi_client(app, "http://gateway") as http:
        statuses = []
        for _ in range(4):
            response = await http.get("/api/v1/admin/keys", headers=bearer(secret))
            statuses.append(response.status_code)
            assert response.headers["x-ratelimit-limit"] == "3"
        assert statuses == [403, 403, 403, 429]
        assert int(response.headers["retry-after"]) >= 1
        assert response.headers["x-ratelimit-remaining"] == "0"
        anonymous = [(await http.get("/api/v1/admin/keys")).status_code for _ in range(3)]
        assert anonymous == [401, 401, 429]


async def test_cors_preflight_for_the_spa(gateway: httpx.AsyncClient) -> None:
    response = await gateway.options(
        "/api/v1/institutions",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization,if-match",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
    evil = await gateway.options(
        "/api/v1/institutions",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in evil.headers


async def test_one_openapi_document_with_problem_responses(gateway: httpx.AsyncClient) -> None:
    spec = (await gateway.get("/openapi.json")).json()
    patch = spec["paths"]["/api/v1/institutions/{ref}"]["patch"]
    assert {"412", "422", "428", "503"} <= set(patch["responses"])
    assert "application/problem+json" in patch["responses"]["412"]["content"]
    assert "InstitutionRead" in spec["components"]["schemas"]
    docs = await gateway.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
