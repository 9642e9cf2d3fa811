"""API keys and authentication at the gateway: shown once, hashed, revocable at once, 401s."""

from __future__ import annotations

import hashlib
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import httpx
from sqlalchemy import select

from services.gateway.models import ApiKey
from tests.gateway.conftest import MakeKey
from tests.gateway.conftest import Platform
from tests.gateway.conftest import bearer
from tests.institutions.helpers import assert_problem


async def test_admin_creates_key_secret_shown_once_and_stored_hashed(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], platform: Platform
) -> None:
    response = await gateway.post(
        "/api/v1/admin/keys",
        json={"name": "中国计算机学会 同步", "role": "reader", "org": "ccf"},
        headers=keys["admin"],
    )
    assert response.status_code == 201, response.text
    created = response.json()
    secret = created["secret"]
    assert secret.startswith("zhk_") and created["role_label"] == "只读"
    listed = await gateway.get("/api/v1/admin/keys", headers=keys["admin"])
    assert secret not in listed.text and created["id"] in listed.text
    async with platform.gateway_db.sessionmaker() as session:
        stored = (
            await session.execute(select(ApiKey).where(ApiKey.id == created["id"]))
        ).scalar_one()
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {stored.secret_hash, stored.name, stored.id}
    assert stored.last_used_at is None
    assert (
        await gateway.get("/api/v1/institutions/ins_zzzzzzzzzzzzzzzzzzzz", headers=bearer(secret))
    ).status_code == 404
    listed = (await gateway.get("/api/v1/admin/keys", headers=keys["admin"])).json()["results"]
    assert next(k for k in listed if k["id"] == created["id"])["last_used_at"] is not None


async def test_revocation_takes_effect_at_once(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], make_key: MakeKey
) -> None:
    secret = await make_key("editor", "cast")
    key_id = "key_" + secret[4:24]
    ok = await gateway.post(
        "/api/v1/institutions", json={"name": "撤销前机构"}, headers=bearer(secret)
    )
    assert ok.status_code == 201
    revoked = await gateway.delete(f"/api/v1/admin/keys/{key_id}", headers=keys["admin"])
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    after = await gateway.post(
        "/api/v1/institutions", json={"name": "撤销后机构"}, headers=bearer(secret)
    )
    body = assert_problem(after, 401)
    assert "revoked" in body["detail"]
    assert after.headers["www-authenticate"].startswith("Bearer")


async def test_bad_malformed_and_expired_keys_are_401_not_anonymous(
    gateway: httpx.AsyncClient, make_key: MakeKey
) -> None:
    expired = await make_key("reader", "cast")
    # expire it in place (creating an already-expired key is refused)
    garbage = {"Authorization": "Bearer zhk_nothing"}
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    wrong_secret = bearer(expired[:-4] + "AAAA")
    for headers in (garbage, basic, wrong_secret):
        response = await gateway.get(
            "/api/v1/institutions/ins_zzzzzzzzzzzzzzzzzzzz", headers=headers
        )
        assert_problem(response, 401)
    response = await gateway.post(
        "/api/v1/admin/keys",
        json={"name": "past", "role": "reader", "org": "x", "expires_at": "2020-01-01T00:00:00Z"},
        headers=bearer(await make_key("admin")),
    )
    assert_problem(response, 422, "expires_at")


async def test_expired_key_is_401(
    gateway: httpx.AsyncClient, make_key: MakeKey, platform: Platform
) -> None:
    secret = await make_key("reader", "cast", expires_at=datetime.now(UTC) + timedelta(days=1))
    assert (
        await gateway.get("/api/v1/institutions/ins_zzzzzzzzzzzzzzzzzzzz", headers=bearer(secret))
    ).status_code == 404
    async with platform.gateway_db.sessionmaker() as session:
        key = await session.get(ApiKey, "key_" + secret[4:24])
        assert key is not None
        key.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        await session.commit()
    body = assert_problem(
        await gateway.get("/api/v1/institutions/ins_zzzzzzzzzzzzzzzzzzzz", headers=bearer(secret)),
        401,
    )
    assert "expired" in body["detail"]


async def test_key_admin_routes_need_admin(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    assert_problem(await gateway.get("/api/v1/admin/keys"), 401)
    for role in ("reader", "editor"):
        assert_problem(await gateway.get("/api/v1/admin/keys", headers=keys[role]), 403)
        assert_problem(
            await gateway.post(
                "/api/v1/admin/keys", json={"name": "x", "role": "admin"}, headers=keys[role]
            ),
            403,
        )
    assert_problem(await gateway.delete("/api/v1/admin/keys/key_nope", headers=keys["admin"]), 404)
    assert_problem(
        await gateway.post(
            "/api/v1/admin/keys", json={"name": "x", "role": "reader"}, headers=keys["admin"]
        ),
        422,
        "org",
    )


async def test_keys_never_appear_in_logs(
    gateway: httpx.AsyncClient,
    make_key: MakeKey,
    caplog,  # type: ignore[no-untyped-def]
) -> None:
    secret = await make_key("reader", "cast")
    with caplog.at_level("DEBUG"):
        await gateway.get("/api/v1/institutions/ins_zzzzzzzzzzzzzzzzzzzz", headers=bearer(secret))
        await gateway.get(
            "/api/v1/institutions/ins_zzzzzzzzzzzzzzzzzzzz", headers=bearer(secret + "x")
        )
    assert caplog.records, "expected access log lines"
    assert all(
        secret not in record.getMessage() and secret not in str(record.__dict__)
        for record in caplog.records
    )
