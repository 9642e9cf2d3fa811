"""A record's history through the gateway: who changed what and when, and who may ask."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.institutions.helpers import assert_problem

SECRET_EMAIL = "history.private@example.cn"


async def _write(
    gateway: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> dict[str, Any]:
    response = await gateway.request(method, path, headers=headers, **kwargs)
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture(scope="module")
async def outcome(gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]) -> dict[str, Any]:
    """An internal outcome of cast: created by cast's editor, changed twice (the second time
    by an admin), its title the last change."""
    editor, admin = keys["editor"], keys["admin"]
    created = await _write(
        gateway,
        "POST",
        "/api/v1/outcomes",
        {**editor, "X-Request-ID": "history-create"},
        json={
            "title": "历史测试内参",
            "type": "internal_reference",
            "visibility": "internal",
            "doi": "10.1234/history.test",
        },
    )
    path = f"/api/v1/outcomes/{created['id']}"
    first = await _write(
        gateway,
        "PATCH",
        path,
        {**editor, "If-Match": '"v1"', "X-Request-ID": "history-patch"},
        json={"abstract": "初稿摘要", "keywords": ["数字治理"]},
    )
    await _write(
        gateway,
        "PATCH",
        path,
        {**admin, "If-Match": f'"v{first["version"]}"'},
        json={"title": "历史测试内参（修订）", "abstract": None},
    )
    return created


async def test_every_write_is_there_with_its_actor_and_fields(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], outcome: dict[str, Any]
) -> None:
    response = await gateway.get(
        f"/api/v1/outcomes/{outcome['id']}/history", headers=keys["editor"]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["record_id"] == outcome["id"] and body["next_before"] is None
    newest, patched, created = body["results"]
    assert [e["op"] for e in body["results"]] == ["update", "update", "create"]
    assert [e["version"] for e in body["results"]] == [3, 2, 1]
    assert created["actor"]["role"] == "editor" and created["actor"]["org"] == "cast"
    assert created["request_id"] == "history-create"
    assert created["changes"]["title"] == {"before": None, "after": "历史测试内参"}
    assert patched["request_id"] == "history-patch"
    assert patched["actor"]["key_id"] == created["actor"]["key_id"] is not None
    assert patched["changes"] == {
        "abstract": {"before": None, "after": "初稿摘要"},
        "keywords": {"before": [], "after": ["数字治理"]},
    }
    assert newest["actor"]["role"] == "admin" and newest["actor"]["org"] is None
    assert newest["actor"]["key_id"] != created["actor"]["key_id"]
    assert newest["changes"] == {
        "title": {"before": "历史测试内参", "after": "历史测试内参（修订）"},
        "abstract": {"before": "初稿摘要", "after": None},
    }
    # The same record by its DOI (a ref holding a slash), and for an admin.
    by_doi = await gateway.get(
        "/api/v1/outcomes/doi:10.1234/history.test/history", headers=keys["admin"]
    )
    assert by_doi.status_code == 200 and by_doi.json()["results"] == body["results"]


async def test_pages_go_back_in_time(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], outcome: dict[str, Any]
) -> None:
    path = f"/api/v1/outcomes/{outcome['id']}/history"
    first = (await gateway.get(path, params={"limit": 2}, headers=keys["editor"])).json()
    assert [e["version"] for e in first["results"]] == [3, 2]
    rest = await gateway.get(
        path, params={"limit": 2, "before": first["next_before"]}, headers=keys["editor"]
    )
    assert [e["version"] for e in rest.json()["results"]] == [1]
    assert rest.json()["next_before"] is None
    too_many = await gateway.get(path, params={"limit": 1000}, headers=keys["editor"])
    assert_problem(too_many, 422)


async def test_only_the_owners_editors_and_admins_may_ask(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], outcome: dict[str, Any]
) -> None:
    internal = f"/api/v1/outcomes/{outcome['id']}/history"
    missing = "/api/v1/outcomes/out_zzzzzzzzzzzzzzzzzzzz/history"
    assert (await gateway.get(internal)).status_code == 401
    assert (await gateway.get(missing)).status_code == 401
    # A reader may not write, so may not ask: the same 403 whether the record exists or not.
    reader = [await gateway.get(p, headers=keys["reader"]) for p in (internal, missing)]
    assert [r.status_code for r in reader] == [403, 403]
    assert reader[0].json()["detail"] == reader[1].json()["detail"]
    # Another organisation's editor: a record hidden from them is missing, one they see is not
    # theirs to ask about.
    hidden = await gateway.get(internal, headers=keys["editor_other"])
    absent = await gateway.get(missing, headers=keys["editor_other"])
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["detail"].replace(outcome["id"], "") == absent.json()["detail"].replace(
        "out_zzzzzzzzzzzzzzzzzzzz", ""
    )
    public = await _write(
        gateway,
        "POST",
        "/api/v1/outcomes",
        keys["editor"],
        json={"title": "历史测试公开成果", "type": "paper", "visibility": "public"},
    )
    seen = await gateway.get(
        f"/api/v1/outcomes/{public['id']}/history", headers=keys["editor_other"]
    )
    assert_problem(seen, 403)


async def test_deletes_and_contact_details_are_kept_for_those_who_may_see_them(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    admin = keys["admin"]
    expert = await _write(
        gateway,
        "POST",
        "/api/v1/experts",
        admin,
        json={"name": "李历史", "email": SECRET_EMAIL, "owner_org": "cast"},
    )
    path = f"/api/v1/experts/{expert['id']}"
    await _write(gateway, "PATCH", path, {**admin, "If-Match": '"v1"'}, json={"email": None})
    history = (await gateway.get(f"{path}/history", headers=keys["editor"])).json()["results"]
    assert history[0]["changes"] == {"email": {"before": SECRET_EMAIL, "after": None}}
    # Derived columns are in it too, as the write stored them.
    assert history[1]["changes"]["name_pinyin"]["after"].startswith("li ")
    # Experts are public, so another organisation's editor sees this one: a 403, no contacts.
    other = await gateway.get(f"{path}/history", headers=keys["editor_other"])
    assert_problem(other, 403)
    assert SECRET_EMAIL not in other.text
    deleted = await gateway.delete(path, headers={**admin, "If-Match": '"v2"'})
    assert deleted.status_code == 204
    # A deleted record answers 410 here as on a read (its history rows stay, for the audit).
    assert (await gateway.get(f"{path}/history", headers=admin)).status_code == 410


async def test_a_special_database_keeps_its_definitions_and_records_history(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    admin, editor = keys["admin"], keys["editor"]
    definition = {
        "slug": "history-db",
        "name": "历史测试库",
        "visibility": "public",
        "owner_org": "cast",
        "title_field": "title",
        "fields": [{"name": "title", "label": "题名", "type": "text", "required": True}],
    }
    await _write(gateway, "POST", "/api/v1/datasets", admin, json=definition)
    record = await _write(
        gateway,
        "POST",
        "/api/v1/datasets/history-db/records",
        editor,
        json={"values": {"title": "第一稿"}},
    )
    path = f"/api/v1/datasets/history-db/records/{record['id']}"
    await _write(
        gateway, "PATCH", path, {**editor, "If-Match": '"v1"'}, json={"values": {"title": "第二稿"}}
    )
    # A new field renames nothing stored, so the definition's change alone is in its history.
    fields = [*definition["fields"], {"name": "year", "label": "年份", "type": "integer"}]
    await _write(
        gateway, "PATCH", "/api/v1/datasets/history-db", {**admin, "If-Match": '"v1"'},
        json={"fields": fields},
    )  # fmt: skip
    records = (await gateway.get(f"{path}/history", headers=editor)).json()["results"]
    assert [e["op"] for e in records] == ["update", "create"]
    assert records[0]["changes"] == {
        "values": {"before": {"title": "第一稿"}, "after": {"title": "第二稿"}}
    }
    assert records[1]["actor"]["role"] == "editor" and records[1]["actor"]["org"] == "cast"
    definitions = await gateway.get("/api/v1/datasets/history-db/history", headers=editor)
    newest = definitions.json()["results"][0]
    assert newest["op"] == "update" and newest["actor"]["role"] == "admin"
    assert [f["name"] for f in newest["changes"]["fields"]["after"]] == ["title", "year"]
    other = await gateway.get(f"{path}/history", headers=keys["editor_other"])
    assert_problem(other, 403)
