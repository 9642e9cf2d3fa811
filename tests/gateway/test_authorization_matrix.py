"""Every record route × every kind of caller × visibility, through the gateway.

Asserts status codes, and that nothing restricted (expert email/phone) or invisible (an
outcome's title) comes back in any body, lists included.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.kernel.library import library_named
from tests.institutions.helpers import assert_problem

CALLERS = ("anonymous", "reader", "reader_other", "editor", "editor_other", "admin")
SECRET_EMAIL = "zhang.wei.private@example.cn"
SECRET_PHONE = "+86 138 0013 8000"

# Who sees an outcome owned by "cast" at each visibility (DESIGN.md, "Roles").
SEES = {
    "public": set(CALLERS),
    "partner": set(CALLERS) - {"anonymous"},
    "internal": {"reader", "editor", "admin"},
}


@pytest.fixture(scope="module")
async def headers(keys: dict[str, dict[str, str]], make_key) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    from tests.gateway.conftest import bearer

    return {**keys, "reader_other": bearer(await make_key("reader", "csae"))}


async def _create(gateway: httpx.AsyncClient, admin: dict[str, str], path: str, body: dict) -> dict:
    response = await gateway.post(path, json={**body, "owner_org": "cast"}, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
async def records(gateway: httpx.AsyncClient, headers: dict[str, dict[str, str]]) -> dict[str, Any]:
    admin = headers["admin"]
    institution = await _create(
        gateway, admin, "/api/v1/institutions", {"name": "矩阵测试大学", "type": "university"}
    )
    expert = await _create(
        gateway,
        admin,
        "/api/v1/experts",
        {
            "name": "张伟",
            "email": SECRET_EMAIL,
            "phone": SECRET_PHONE,
            "affiliations": [{"institution_id": institution["id"]}],
        },
    )
    outcomes = {
        level: await _create(
            gateway,
            admin,
            "/api/v1/outcomes",
            {
                "title": f"矩阵测试成果（{level}）关于人工智能治理的建议",
                "type": "policy_brief",
                "visibility": level,
                "authors": [{"expert_id": expert["id"]}],
            },
        )
        for level in ("public", "partner", "internal")
    }
    events = {
        level: await _create(
            gateway,
            admin,
            "/api/v1/events",
            {
                "title": f"矩阵测试座谈会（{level}）",
                "kind": "symposium",
                "starts_on": "2023-06-16",
                "visibility": level,
                "organiser_ids": [institution["id"]],
                "participants": [{"expert_id": expert["id"], "role": "speaker"}],
            },
        )
        for level in ("public", "partner", "internal")
    }
    return {"institution": institution, "expert": expert, "outcomes": outcomes, "events": events}


def _leaks_contact(text: str) -> bool:
    return SECRET_EMAIL in text or "138 0013 8000" in text or '"email"' in text


@pytest.mark.parametrize("caller", CALLERS)
async def test_reads_respect_visibility_and_restricted_fields(
    gateway: httpx.AsyncClient,
    headers: dict[str, dict[str, str]],
    records: dict[str, Any],
    caller: str,
) -> None:
    h = headers[caller]
    institution = await gateway.get(
        f"/api/v1/institutions/{records['institution']['id']}", headers=h
    )
    assert institution.status_code == 200
    expert = await gateway.get(f"/api/v1/experts/{records['expert']['id']}", headers=h)
    assert expert.status_code == 200
    assert _leaks_contact(expert.text) == (caller != "anonymous")
    for library in ("outcomes", "events"):
        for level, record in records[library].items():
            response = await gateway.get(f"/api/v1/{library}/{record['id']}", headers=h)
            if caller in SEES[level]:
                assert response.status_code == 200, (caller, library, level, response.text)
            else:
                assert_problem(response, 404)
                assert record["title"] not in response.text


@pytest.mark.parametrize("caller", CALLERS)
async def test_lists_respect_visibility_and_restricted_fields(
    gateway: httpx.AsyncClient,
    headers: dict[str, dict[str, str]],
    records: dict[str, Any],
    caller: str,
    index_now,  # type: ignore[no-untyped-def]
) -> None:
    await index_now()
    h = headers[caller]
    for library in ("outcomes", "events"):
        listed: list[dict] = []
        cursor = None
        while True:
            params = {"page_size": 100, **({"cursor": cursor} if cursor else {})}
            page = (await gateway.get(f"/api/v1/{library}", params=params, headers=h)).json()
            listed += page["results"]
            cursor = page["meta"]["next_cursor"]
            if not cursor:
                break
        ours = {o["id"]: level for level, o in records[library].items()}
        visible = {ours[r["id"]] for r in listed if r["id"] in ours}
        assert visible == {level for level in SEES if caller in SEES[level]}, library
    experts = await gateway.get("/api/v1/experts", params={"page_size": 100}, headers=h)
    assert experts.status_code == 200 and records["expert"]["id"] in experts.text
    # Lists come from the search index, which never holds contact details (DESIGN.md): they
    # are only on the single-record read, for readers and above.
    assert not _leaks_contact(experts.text)


@pytest.mark.parametrize("caller", CALLERS)
async def test_writes_by_role_owner_and_visibility(
    gateway: httpx.AsyncClient,
    headers: dict[str, dict[str, str]],
    records: dict[str, Any],
    caller: str,
) -> None:
    h = headers[caller]
    targets = [
        ("institutions", records["institution"]["id"], {"city": f"北京市{caller}"}, "public"),
        ("experts", records["expert"]["id"], {"title": f"研究员{caller}"}, "public"),
        *(
            ("outcomes", o["id"], {"series": f"《科技工作者建议》{caller}"}, level)
            for level, o in records["outcomes"].items()
        ),
        *(
            ("events", e["id"], {"venue": f"中国科技会堂{caller}"}, level)
            for level, e in records["events"].items()
        ),
    ]
    for library, record_id, change, level in targets:
        path = f"/api/v1/{library}/{record_id}"
        etag = (await gateway.get(path, headers=headers["admin"])).headers["etag"]
        response = await gateway.patch(path, json=change, headers={**h, "If-Match": etag})
        # The role is checked before the record is looked at, so a reader's 403 is the same
        # for any ID; an editor who cannot see the record gets 404, never a revealing 403.
        if caller == "anonymous":
            expected = 401
        elif caller.startswith("reader"):
            expected = 403
        elif caller not in SEES[level]:
            expected = 404
        elif caller == "editor" or caller == "admin":
            expected = 200
        else:
            expected = 403
        assert response.status_code == expected, (caller, library, level, response.text)
        if expected != 200:
            after = (await gateway.get(path, headers=headers["admin"])).headers["etag"]
            assert after == etag, "a refused write changed the record"
            unknown = await gateway.patch(
                f"/api/v1/{library}/{library_named(library).id_prefix}_zzzzzzzzzzzzzzzzzzzz",
                json=change,
                headers={**h, "If-Match": etag},
            )
            if caller.startswith("reader") or caller == "anonymous" or expected == 404:
                # indistinguishable from an ID that does not exist
                assert unknown.status_code == expected
                assert unknown.json()["title"] == response.json()["title"]


@pytest.mark.parametrize("caller", CALLERS)
async def test_creates_and_deletes_by_role(
    gateway: httpx.AsyncClient, headers: dict[str, dict[str, str]], caller: str
) -> None:
    h = headers[caller]
    created = await gateway.post(
        "/api/v1/institutions", json={"name": f"{caller}创建的机构"}, headers=h
    )
    expected = {"anonymous": 401, "reader": 403, "reader_other": 403}.get(caller, 201)
    assert created.status_code == expected, created.text
    victim = await _create(
        gateway, headers["admin"], "/api/v1/institutions", {"name": f"待删除{caller}"}
    )
    deleted = await gateway.delete(
        f"/api/v1/institutions/{victim['id']}", headers={**h, "If-Match": '"v1"'}
    )
    expected_delete = {"anonymous": 401, "editor": 204, "admin": 204}.get(caller, 403)
    assert deleted.status_code == expected_delete, deleted.text


@pytest.mark.parametrize("caller", CALLERS)
async def test_admin_routes_only_for_admin(
    gateway: httpx.AsyncClient, headers: dict[str, dict[str, str]], caller: str
) -> None:
    response = await gateway.get("/api/v1/admin/keys", headers=headers[caller])
    expected = {"anonymous": 401, "admin": 200}.get(caller, 403)
    assert response.status_code == expected
    if expected == 200:
        assert "secret" not in response.text


@pytest.fixture(scope="module")
async def datasets(
    gateway: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """One special database per visibility, owned by cast, each with one record."""
    made = {}
    for level in ("public", "partner", "internal"):
        definition = {
            "slug": f"matrix-{level}",
            "name": f"矩阵测试数据库（{level}）",
            "visibility": level,
            "owner_org": "cast",
            "title_field": "title",
            "fields": [
                {"name": "title", "label": "题名", "type": "text", "required": True},
                {"name": "year", "label": "年份", "type": "integer", "facetable": True},
            ],
        }
        created = await gateway.post("/api/v1/datasets", json=definition, headers=headers["admin"])
        assert created.status_code == 201, created.text
        record = await gateway.post(
            f"/api/v1/datasets/matrix-{level}/records",
            json={
                "values": {"title": f"前沿科学问题（{level}）", "year": 2023},
                "owner_org": "cast",
            },
            headers=headers["admin"],
        )
        assert record.status_code == 201, record.text
        made[level] = record.json()
    return made


@pytest.mark.parametrize("caller", CALLERS)
async def test_special_databases_respect_visibility(
    gateway: httpx.AsyncClient,
    headers: dict[str, dict[str, str]],
    datasets: dict[str, Any],
    caller: str,
) -> None:
    h = headers[caller]
    listed = (await gateway.get("/api/v1/datasets", params={"page_size": 100}, headers=h)).json()
    slugs = {d["slug"] for d in listed["results"]}
    for level, record in datasets.items():
        visible = caller in SEES[level]
        assert (f"matrix-{level}" in slugs) == visible, (caller, level)
        definition = await gateway.get(f"/api/v1/datasets/matrix-{level}", headers=h)
        assert definition.status_code == (200 if visible else 404)
        path = f"/api/v1/datasets/matrix-{level}/records/{record['id']}"
        read = await gateway.get(path, headers=h)
        assert read.status_code == (200 if visible else 404), (caller, level, read.text)
        if not visible:
            assert record["values"]["title"] not in read.text
        redefine = await gateway.patch(
            f"/api/v1/datasets/matrix-{level}",
            json={"description": "x"},
            headers={**h, "If-Match": definition.headers.get("etag", '"v1"')},
        )
        assert redefine.status_code == {"anonymous": 401, "admin": 200}.get(caller, 403)


@pytest.mark.parametrize("caller", CALLERS)
async def test_special_database_record_writes(
    gateway: httpx.AsyncClient,
    headers: dict[str, dict[str, str]],
    datasets: dict[str, Any],
    caller: str,
) -> None:
    for level, record in datasets.items():
        path = f"/api/v1/datasets/matrix-{level}/records/{record['id']}"
        etag = (await gateway.get(path, headers=headers["admin"])).headers["etag"]
        response = await gateway.patch(
            path, json={"values": {"year": 2024}}, headers={**headers[caller], "If-Match": etag}
        )
        if caller == "anonymous":
            expected = 401
        elif caller.startswith("reader"):
            expected = 403
        elif caller not in SEES[level]:
            expected = 404
        elif caller in ("editor", "admin"):
            expected = 200
        else:
            expected = 403
        assert response.status_code == expected, (caller, level, response.text)


async def test_references_cannot_reveal_hidden_outcomes(
    gateway: httpx.AsyncClient, headers: dict[str, dict[str, str]], records: dict[str, Any]
) -> None:
    """A `ref:outcomes` value naming an outcome the writer may not see is refused exactly like
    one naming no outcome: a reference is no oracle for whether a 内参 exists."""
    definition = {
        "slug": "matrix-refs",
        "name": "引用测试数据库",
        "visibility": "public",
        "owner_org": "csae",
        "title_field": "title",
        "fields": [
            {"name": "title", "label": "题名", "type": "text", "required": True},
            {"name": "about", "label": "相关成果", "type": "ref:outcomes"},
        ],
    }
    created = await gateway.post("/api/v1/datasets", json=definition, headers=headers["admin"])
    assert created.status_code == 201, created.text
    hidden = records["outcomes"]["internal"]["id"]  # cast's 内参: editor_other cannot see it
    absent = hidden[:-4] + ("aaaa" if not hidden.endswith("aaaa") else "bbbb")

    async def write(about: str, caller: str) -> httpx.Response:
        return await gateway.post(
            "/api/v1/datasets/matrix-refs/records",
            json={"values": {"title": "引用", "about": about}},
            headers=headers[caller],
        )

    refused_hidden, refused_absent = (
        await write(hidden, "editor_other"),
        await write(absent, "editor_other"),
    )
    assert refused_hidden.status_code == refused_absent.status_code == 422
    hidden_errors = refused_hidden.json()["errors"]
    absent_errors = refused_absent.json()["errors"]
    assert [e["loc"] for e in hidden_errors] == [e["loc"] for e in absent_errors]
    assert [e["msg"].replace(hidden, "ID") for e in hidden_errors] == [
        e["msg"].replace(absent, "ID") for e in absent_errors
    ]
    visible = records["outcomes"]["partner"]["id"]
    assert (await write(visible, "editor_other")).status_code == 201
    assert (await write(hidden, "admin")).status_code == 201


def _history_status(caller: str, level: str) -> int:
    """Admins and cast's editors read the history of cast's records; another editor gets a 403
    for a record they see and a 404 for one they do not; readers a 403, anonymous a 401."""
    if caller == "anonymous":
        return 401
    if caller in ("reader", "reader_other"):
        return 403
    if caller in ("editor", "admin"):
        return 200
    return 403 if caller in SEES[level] else 404


@pytest.mark.parametrize("caller", CALLERS)
async def test_history_by_role_owner_and_visibility(
    gateway: httpx.AsyncClient,
    headers: dict[str, dict[str, str]],
    records: dict[str, Any],
    datasets: dict[str, Any],
    caller: str,
) -> None:
    cases = [
        ("institutions", records["institution"]["id"], "public"),
        ("experts", records["expert"]["id"], "public"),
        *(("outcomes", o["id"], level) for level, o in records["outcomes"].items()),
        *(("events", e["id"], level) for level, e in records["events"].items()),
        # A special database's definition and its record, as visible as the database.
        *((f"datasets/matrix-{level}", None, level) for level in datasets),
        *((f"datasets/matrix-{level}/records", r["id"], level) for level, r in datasets.items()),
    ]
    for library, record_id, level in cases:
        path = f"/api/v1/{library}/{record_id}" if record_id else f"/api/v1/{library}"
        response = await gateway.get(f"{path}/history", headers=headers[caller])
        expected = _history_status(caller, level)
        assert response.status_code == expected, (library, level, response.text)
        if expected == 200:
            assert response.json()["results"][-1]["op"] == "create"
        else:
            assert_problem(response, expected)
            assert not _leaks_contact(response.text)
