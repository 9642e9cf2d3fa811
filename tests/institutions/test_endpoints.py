"""Institutions service endpoints on SQLite and PostgreSQL: ok, not found, not allowed, bad."""

from __future__ import annotations

import httpx

from tests.actors import ADMIN
from tests.actors import ANONYMOUS
from tests.actors import BAD_TOKEN
from tests.actors import EDITOR_CAST
from tests.actors import EDITOR_OTHER
from tests.actors import NO_TOKEN
from tests.actors import READER
from tests.actors import SERVICE
from tests.helpers import assert_problem
from tests.helpers import feed_head
from tests.helpers import list_all
from tests.institutions.helpers import PKU_ROR
from tests.institutions.helpers import TSINGHUA_ROR
from tests.institutions.helpers import TSINGHUA_USCC
from tests.institutions.helpers import create
from tests.institutions.helpers import read
from tests.institutions.helpers import unique_name

# --- create -------------------------------------------------------------------------------


async def test_create_returns_record_with_labels_etag_and_derived_province(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/institutions",
        headers=EDITOR_CAST,
        json={
            "name": " 清华大学 ",
            "name_en": "Tsinghua University",
            "type": "university",
            "region_code": "１１０１０８",  # full-width digits, as pasted from a document
            "uscc": TSINGHUA_USCC.lower(),
            "ror_id": f"https://ror.org/{TSINGHUA_ROR}",
            "website": "www.tsinghua.edu.cn",
            "acronyms": ["THU", "thu", "清华"],
            "established_year": 1911,
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("ins_") and len(body["id"]) == 24
    assert body["name"] == "清华大学"
    assert body["type_label"] == "高校" and body["status_label"] == "正常"
    assert body["province"] == "北京市" and body["region_code"] == "110108"
    assert body["uscc"] == TSINGHUA_USCC and body["ror_id"] == TSINGHUA_ROR
    assert body["website"] == "https://www.tsinghua.edu.cn"
    assert body["acronyms"] == ["THU", "清华"]  # case-insensitive duplicates dropped
    assert body["owner_org"] == "cast" and body["version"] == 1
    assert response.headers["etag"] == '"v1"'
    assert response.headers["location"] == f"/institutions/{body['id']}"


async def test_create_needs_internal_token(client: httpx.AsyncClient) -> None:
    for headers in (NO_TOKEN, BAD_TOKEN):
        response = await client.post("/institutions", json={"name": unique_name()}, headers=headers)
        assert_problem(response, 401)


async def test_create_not_allowed_for_readers_anonymous_or_foreign_owner(
    client: httpx.AsyncClient,
) -> None:
    for headers in (READER, ANONYMOUS, SERVICE):
        response = await client.post("/institutions", json={"name": unique_name()}, headers=headers)
        assert_problem(response, 403)
    response = await client.post(
        "/institutions", json={"name": unique_name(), "owner_org": "csae"}, headers=EDITOR_CAST
    )
    assert_problem(response, 403)
    # an admin may create on behalf of any organisation
    record = await create(client, ADMIN, owner_org="csae")
    assert record["owner_org"] == "csae"


async def test_create_rejects_bad_input_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    head = await feed_head(client)
    bad_bodies = {
        "uscc": {"name": unique_name(), "uscc": TSINGHUA_USCC[:-1] + "E"},
        "ror_id": {"name": unique_name(), "ror_id": "03cve4548"},
        "region_code": {"name": unique_name(), "region_code": "990000"},
        "province": {"name": unique_name(), "region_code": "110108", "province": "上海"},
        "type": {"name": unique_name(), "type": "castle"},
        "established_year": {"name": unique_name(), "established_year": "nineteen"},
        "aliases": {"name": unique_name(), "aliases": "not a list"},
        "name": {"name": "   "},
        "merged_into": {"name": unique_name(), "status": "merged"},
        "website": {"name": unique_name(), "website": "ftp://example.org"},
        "colour": {"name": unique_name(), "colour": "red"},
        "description": {"name": unique_name(), "description": "text\u202eevil"},
    }
    for field, body in bad_bodies.items():
        response = await client.post("/institutions", json=body, headers=ADMIN)
        problem = assert_problem(response, 422, field if field != "merged_into" else None)
        if field == "merged_into":
            assert "merged_into" in problem["detail"]
    assert await feed_head(client) == head


async def test_unknown_parent_and_self_merge_are_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/institutions",
        json={"name": unique_name(), "parent_id": "ins_00000000000000000000"},
        headers=ADMIN,
    )
    assert_problem(response, 422, "parent_id")
    response = await client.post(
        "/institutions",
        json={"name": unique_name(), "status": "merged", "merged_into": "ins_00000000000000000000"},
        headers=ADMIN,
    )
    assert_problem(response, 422, "merged_into")


async def test_malformed_json_and_wrong_content_are_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/institutions",
        content=b'{"name": "\xe6\xb8\x85\xe5\x8d\x8e", ',
        headers={**ADMIN, "content-type": "application/json"},
    )
    body = assert_problem(response, 400)
    assert body["type"] == "/problems/malformed-json"
    response = await client.post(
        "/institutions", content=b"[1, 2]", headers={**ADMIN, "content-type": "application/json"}
    )
    assert_problem(response, 422)


async def test_ten_megabyte_body_is_413_and_writes_nothing(client: httpx.AsyncClient) -> None:
    head = await feed_head(client)
    huge = {"name": unique_name(), "description": "很长" * 5_000_000}
    response = await client.post("/institutions", json=huge, headers=ADMIN)
    body = assert_problem(response, 413)
    assert "bytes" in body["detail"]
    assert await feed_head(client) == head


async def test_duplicate_identifier_is_409_naming_the_field(client: httpx.AsyncClient) -> None:
    first = await create(client, ror_id=PKU_ROR)
    response = await client.post(
        "/institutions", json={"name": unique_name(), "ror_id": PKU_ROR}, headers=ADMIN
    )
    body = assert_problem(response, 409, "ror_id")
    assert first["id"] in body["detail"]


# --- read ---------------------------------------------------------------------------------


async def test_read_by_id_ror_and_uscc(client: httpx.AsyncClient) -> None:
    response = await read(client, f"ror:{TSINGHUA_ROR}")
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["name"] == "清华大学"
    assert response.headers["etag"] == f'"v{record["version"]}"'
    by_uscc = await read(client, f"uscc:{TSINGHUA_USCC}")
    by_id = await read(client, record["id"])
    assert by_uscc.json()["id"] == by_id.json()["id"] == record["id"]


async def test_read_unknown_is_404_and_bad_scheme_is_400(client: httpx.AsyncClient) -> None:
    assert_problem(await read(client, "ins_zzzzzzzzzzzzzzzzzzzz"), 404)
    assert_problem(await read(client, "ror:02v51f718"), 400)  # bad checksum, said so
    assert_problem(await read(client, "isni:0000000121581234"), 400)


async def test_read_needs_internal_token(client: httpx.AsyncClient) -> None:
    record = await create(client)
    response = await client.get(f"/institutions/{record['id']}", headers=NO_TOKEN)
    assert_problem(response, 401)


async def test_list_pages_by_cursor_and_fetches_by_ids(client: httpx.AsyncClient) -> None:
    made = [await create(client) for _ in range(5)]
    seen = [r["id"] for r in await list_all(client, "/institutions", page_size=3)]
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert {m["id"] for m in made} <= set(seen)
    ids = ",".join(m["id"] for m in made[:2])
    by_ids = (await client.get("/institutions", params={"ids": ids}, headers=SERVICE)).json()
    assert [r["id"] for r in by_ids["results"]] == sorted(m["id"] for m in made[:2])
    assert_problem(
        await client.get("/institutions", params={"cursor": "garbage!"}, headers=SERVICE), 400
    )


# --- patch --------------------------------------------------------------------------------


async def test_patch_applies_merge_patch_and_bumps_version(client: httpx.AsyncClient) -> None:
    record = await create(client, EDITOR_CAST, city="北京市", tags=["a"])
    response = await client.patch(
        f"/institutions/{record['id']}",
        json={"city": None, "tags": ["双一流", "985"], "name_en": "Test Institute"},
        headers={**EDITOR_CAST, "If-Match": '"v1"', "content-type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["city"] is None and body["tags"] == ["双一流", "985"]
    assert body["version"] == 2 and response.headers["etag"] == '"v2"'
    # a patch that changes nothing writes nothing
    same = await client.patch(
        f"/institutions/{record['id']}",
        json={"name_en": "Test Institute"},
        headers={**EDITOR_CAST, "If-Match": '"v2"'},
    )
    assert same.status_code == 200 and same.json()["version"] == 2


async def test_patch_stale_etag_is_412_and_nothing_written(client: httpx.AsyncClient) -> None:
    record = await create(client)
    ok = await client.patch(
        f"/institutions/{record['id']}",
        json={"city": "天津市"},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert ok.status_code == 200
    head = await feed_head(client)
    stale = await client.patch(
        f"/institutions/{record['id']}",
        json={"city": "上海市"},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert_problem(stale, 412)
    assert stale.headers["etag"] == '"v2"'
    stored = (await read(client, record["id"])).json()
    assert stored["city"] == "天津市" and stored["version"] == 2
    assert await feed_head(client) == head


async def test_patch_without_if_match_is_428(client: httpx.AsyncClient) -> None:
    record = await create(client)
    response = await client.patch(
        f"/institutions/{record['id']}", json={"city": "x"}, headers=ADMIN
    )
    assert_problem(response, 428, "If-Match")


async def test_patch_not_allowed_for_other_org_or_reader(client: httpx.AsyncClient) -> None:
    record = await create(client, EDITOR_CAST)
    for headers in (EDITOR_OTHER, READER):
        response = await client.patch(
            f"/institutions/{record['id']}",
            json={"city": "x"},
            headers={**headers, "If-Match": '"v1"'},
        )
        assert_problem(response, 403)
    handover = await client.patch(
        f"/institutions/{record['id']}",
        json={"owner_org": "csae"},
        headers={**EDITOR_CAST, "If-Match": '"v1"'},
    )
    assert_problem(handover, 403)
    assert (await read(client, record["id"])).json()["version"] == 1


async def test_patch_unknown_and_read_only_fields_are_422(client: httpx.AsyncClient) -> None:
    record = await create(client)
    for body, field in (({"colour": "red"}, "colour"), ({"version": 9}, "version")):
        response = await client.patch(
            f"/institutions/{record['id']}", json=body, headers={**ADMIN, "If-Match": '"v1"'}
        )
        assert_problem(response, 422, field)
    cleared = await client.patch(
        f"/institutions/{record['id']}", json={"name": None}, headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert_problem(cleared, 422, "name")


async def test_patch_unknown_record_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch(
        "/institutions/ins_zzzzzzzzzzzzzzzzzzzz",
        json={"city": "x"},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert_problem(response, 404)


async def test_hierarchy_refuses_cycles(client: httpx.AsyncClient) -> None:
    top = await create(client, name=unique_name("大学"))
    middle = await create(client, name=unique_name("学院"), parent_id=top["id"])
    bottom = await create(client, name=unique_name("系"), parent_id=middle["id"])
    for target, parent in ((top, bottom["id"]), (top, top["id"])):
        response = await client.patch(
            f"/institutions/{target['id']}",
            json={"parent_id": parent},
            headers={**ADMIN, "If-Match": '"v1"'},
        )
        assert_problem(response, 422, "parent_id")
    assert (await read(client, top["id"])).json()["parent_id"] is None


async def test_merged_needs_successor(client: httpx.AsyncClient) -> None:
    old = await create(client)
    successor = await create(client)
    bare = await client.patch(
        f"/institutions/{old['id']}",
        json={"status": "merged"},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert_problem(bare, 422, "merged_into")
    merged = await client.patch(
        f"/institutions/{old['id']}",
        json={"status": "merged", "merged_into": successor["id"]},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["status_label"] == "已合并"


# --- delete -------------------------------------------------------------------------------


async def test_delete_leaves_tombstone_and_410(client: httpx.AsyncClient) -> None:
    record = await create(client, EDITOR_CAST)
    head = await feed_head(client)
    assert_problem(
        await client.delete(
            f"/institutions/{record['id']}", headers={**EDITOR_OTHER, "If-Match": '"v1"'}
        ),
        403,
    )
    assert_problem(await client.delete(f"/institutions/{record['id']}", headers=EDITOR_CAST), 428)
    response = await client.delete(
        f"/institutions/{record['id']}", headers={**EDITOR_CAST, "If-Match": '"v1"'}
    )
    assert response.status_code == 204
    assert_problem(await read(client, record["id"]), 410)
    feed = (await client.get("/internal/changes", params={"after": head}, headers=SERVICE)).json()[
        "changes"
    ]
    assert [(c["record_id"], c["op"], c["version"], c["document"]) for c in feed] == [
        (record["id"], "delete", 2, None)
    ]
    assert_problem(
        await client.delete(f"/institutions/{record['id']}", headers={**ADMIN, "If-Match": '"v2"'}),
        410,
    )


async def test_delete_with_children_is_409(client: httpx.AsyncClient) -> None:
    parent = await create(client)
    await create(client, parent_id=parent["id"])
    response = await client.delete(
        f"/institutions/{parent['id']}", headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert_problem(response, 409)


async def test_deleted_identifiers_can_be_reused(client: httpx.AsyncClient) -> None:
    uscc = "91350100M000100Y43"
    first = await create(client, uscc=uscc)
    await client.delete(f"/institutions/{first['id']}", headers={**ADMIN, "If-Match": '"v1"'})
    second = await create(client, uscc=uscc)
    assert (await read(client, f"uscc:{uscc}")).json()["id"] == second["id"]


# --- upsert -------------------------------------------------------------------------------


async def test_upsert_creates_then_is_unchanged_then_updates(client: httpx.AsyncClient) -> None:
    url = "/institutions/sources/moe-list-2024/4111010003"
    body = {"name": unique_name("北京大学"), "type": "university", "region_code": "110108"}
    first = await client.put(url, json=body, headers=ADMIN)
    assert first.status_code == 201 and first.headers["zhihui-upsert"] == "created"
    again = await client.put(url, json=body, headers=ADMIN)
    assert again.status_code == 200 and again.headers["zhihui-upsert"] == "unchanged"
    assert again.json()["version"] == 1 and again.json()["id"] == first.json()["id"]
    changed = await client.put(url, json={**body, "city": "北京市"}, headers=ADMIN)
    assert changed.headers["zhihui-upsert"] == "updated" and changed.json()["version"] == 2
    assert changed.json()["source"] == "moe-list-2024"
    assert changed.json()["external_id"] == "4111010003"


async def test_each_organisation_upserts_in_its_own_key_space(client: httpx.AsyncClient) -> None:
    url = "/institutions/sources/society-x/1"
    created = await client.put(url, json={"name": unique_name()}, headers=EDITOR_CAST)
    assert created.status_code == 201
    # The same key from another organisation is that organisation's own record: no 403 that
    # would reveal the first, and the first is untouched.
    other = await client.put(url, json={"name": unique_name()}, headers=EDITOR_OTHER)
    assert other.status_code == 201 and other.json()["owner_org"] == "csae"
    assert other.json()["id"] != created.json()["id"]
    assert (await read(client, created.json()["id"])).json() == created.json()
    again = await client.put(url, json={"name": created.json()["name"]}, headers=EDITOR_CAST)
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    assert_problem(await client.put(url, json={"name": unique_name()}, headers=READER), 403)


# --- feed, health -------------------------------------------------------------------------


async def test_change_feed_carries_documents_in_order(client: httpx.AsyncClient) -> None:
    head = await feed_head(client)
    record = await create(client, tags=["智库"], region_code="310000")
    await client.patch(
        f"/institutions/{record['id']}",
        json={"city": "上海市"},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    page = (
        await client.get("/internal/changes", params={"after": head, "limit": 10}, headers=SERVICE)
    ).json()
    changes = page["changes"]
    assert [(c["op"], c["version"]) for c in changes] == [("upsert", 1), ("upsert", 2)]
    assert changes[0]["seq"] < changes[1]["seq"] == page["next_after"] == page["head"]
    document = changes[1]["document"]
    assert document["city"] == "上海市" and document["province"] == "上海市"
    assert document["type_label"] == "科研院所" and document["visibility"] == "public"
    assert_problem(await client.get("/internal/changes", headers=NO_TOKEN), 401)
    assert_problem(await client.get("/internal/changes", params={"limit": 0}, headers=SERVICE), 422)


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"


async def test_request_id_is_echoed_or_replaced_when_unsafe(client: httpx.AsyncClient) -> None:
    ok = await client.get("/healthz", headers={"X-Request-ID": "partner-abc.123"})
    assert ok.headers["x-request-id"] == "partner-abc.123"
    unsafe = await client.get("/healthz", headers={"X-Request-ID": "a b\tc" + "x" * 200})
    assert unsafe.headers["x-request-id"] != "a b\tc" and len(unsafe.headers["x-request-id"]) == 16
    problem = (await read(client, "ins_zzzzzzzzzzzzzzzzzzzz")).json()
    assert problem["request_id"]
