"""Integrity through the gateway, on both backends: one key one record by every route, keys
and names cleaned by one rule, Idempotency-Key on POST, referenced institutions, merges.

(Races on PostgreSQL are in tests/reliability/test_integrity.py.)
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from services.kernel.http import ServiceClient
from tests.gateway.conftest import MakeKey
from tests.gateway.conftest import bearer
from tests.institutions.helpers import assert_problem

INSTITUTIONS = "/api/v1/institutions"
# Look-alikes of the key "17" (see tests/kernel/test_text.py), as partners' files carry them.
LOOK_ALIKES = ["17", "１７", "17\u200b", "\ufeff17", "17\u00a0"]


async def _heads(clients: dict[str, ServiceClient]) -> dict[str, int]:
    heads = {}
    for name, client in clients.items():
        page = (await client.request("GET", "/internal/changes", params={"limit": 1})).json()
        heads[name] = page["head"]
    return heads


async def _create(gateway: httpx.AsyncClient, key: dict[str, str], path: str, body: dict) -> Any:
    response = await gateway.post(path, json=body, headers=key)
    assert response.status_code == 201, response.text
    return response.json()


async def test_look_alike_keys_reach_one_record_by_every_route(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    source = f"look-alike-{uuid.uuid4().hex[:6]}"
    answers = []
    for external_id in LOOK_ALIKES:
        answers.append(
            await gateway.put(
                f"{INSTITUTIONS}/sources/{source}/{quote(external_id)}",
                json={"name": "十七研究所", "type": "research_institute"},
                headers=keys["admin"],
            )
        )
    assert [a.status_code for a in answers] == [201, 200, 200, 200, 200], [a.text for a in answers]
    assert {a.json()["id"] for a in answers} == {answers[0].json()["id"]}
    assert {a.headers["zhihui-upsert"] for a in answers[1:]} == {"unchanged"}
    assert answers[0].json()["external_id"] == "17"

    # A bulk line and a URL with a tab in the key: the same record both ways.
    body = {"source": source, "external_id": "x\ty", "name": "制表符研究所"}
    bulk = await gateway.post(
        f"{INSTITUTIONS}/bulk",
        content=orjson.dumps(body) + b"\n",
        headers={**keys["admin"], "Content-Type": "application/x-ndjson"},
    )
    line = bulk.json()["results"][0]
    assert line["status"] == "created", bulk.text
    by_url = await gateway.put(
        f"{INSTITUTIONS}/sources/{source}/x%09y",
        json={"name": "制表符研究所"},
        headers=keys["admin"],
    )
    assert by_url.status_code == 200, (by_url.json(), line)
    assert by_url.json()["id"] == line["id"]
    assert by_url.json()["external_id"] == "x y"

    # A POST that names the same key in its body is a duplicate of it, not a sixth record.
    duplicate = await gateway.post(
        INSTITUTIONS,
        json={"name": "十七研究所", "source": source, "external_id": "１７\u200b"},
        headers=keys["admin"],
    )
    assert_problem(duplicate, 409, "external_id")


async def test_unusable_characters_in_url_keys_are_422_and_write_nothing(
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    platform_clients: dict[str, ServiceClient],
) -> None:
    before = await _heads(platform_clients)
    for source, external_id, field in [
        ("partner\u202e", "1", "source"),
        ("partner", "1%00", "external_id"),  # a NUL: PostgreSQL text cannot hold it
        ("partner", "a%7Fb", "external_id"),
        ("partner", "%E2%80%8B", "external_id"),  # only invisible: blank once cleaned
    ]:
        for library in ("institutions", "experts", "outcomes"):
            body = {"name": "测试"} if library != "outcomes" else {"title": "测试"}
            response = await gateway.put(
                f"/api/v1/{library}/sources/{quote(source)}/{external_id}",
                json=body,
                headers=keys["admin"],
            )
            problem = assert_problem(response, 422, field)
            assert "Traceback" not in response.text
            assert problem["errors"][0]["loc"][0] == "path"
    assert await _heads(platform_clients) == before


async def test_names_are_stored_cleaned(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    record = await _create(
        gateway,
        keys["admin"],
        INSTITUTIONS,
        {
            "name": "\ufeff中国\u200b科学院（ＣＡＳ）\u00a0",
            "name_en": "Chinese Academy of Sciences\u200b",
            "aliases": ["中科院", "中科院\u200b"],  # the same alias twice once cleaned
            "type": "research_institute",
        },
    )
    assert record["name"] == "中国科学院（CAS）"
    assert record["name_en"] == "Chinese Academy of Sciences"
    assert record["aliases"] == ["中科院"]
    expert = await _create(
        gateway,
        keys["admin"],
        "/api/v1/experts",
        {"name": "Jose\u0301 Garci\u0301a", "affiliations": [{"institution_id": record["id"]}]},
    )
    assert expert["name"] == "José García"


async def test_idempotency_key_replays_the_first_answer_once_per_caller(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], make_key: MakeKey
) -> None:
    key = f"req-{uuid.uuid4()}"
    body = {"name": "幂等研究院", "type": "think_tank"}
    first = await gateway.post(
        INSTITUTIONS, json=body, headers={**keys["editor"], "Idempotency-Key": key}
    )
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = await gateway.post(
        INSTITUTIONS, json=body, headers={**keys["editor"], "Idempotency-Key": key}
    )
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]

    other_body = await gateway.post(
        INSTITUTIONS,
        json={**body, "name": "另一个研究院"},
        headers={**keys["editor"], "Idempotency-Key": key},
    )
    assert_problem(other_body, 422, "Idempotency-Key")

    # Another caller's key space: the same key is a new request there.
    other_caller = bearer(await make_key("editor", "cast"))
    theirs = await gateway.post(
        INSTITUTIONS, json=body, headers={**other_caller, "Idempotency-Key": key}
    )
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]

    listed = await gateway.get(f"{INSTITUTIONS}/{first.json()['id']}", headers=keys["admin"])
    assert listed.status_code == 200
    for bad in ("has space", "x" * 256, "ключ"):
        refused = await gateway.post(
            INSTITUTIONS, json=body, headers={**keys["editor"], "Idempotency-Key": bad.encode()}
        )
        assert_problem(refused, 422, "Idempotency-Key")


async def test_idempotency_key_on_bulk_replays_the_line_results(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    source = f"bulk-idem-{uuid.uuid4().hex[:6]}"
    lines = b"".join(
        orjson.dumps({"source": source, "external_id": str(n), "name": f"批量研究所{n}"}) + b"\n"
        for n in range(3)
    )
    headers = {
        **keys["admin"],
        "Content-Type": "application/x-ndjson",
        "Idempotency-Key": f"import-{source}-batch-1",
    }
    first = await gateway.post(f"{INSTITUTIONS}/bulk", content=lines, headers=headers)
    again = await gateway.post(f"{INSTITUTIONS}/bulk", content=lines, headers=headers)
    assert first.json()["summary"]["created"] == 3
    # The replay tells what the first request did (created), not what a re-run would.
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"


async def test_a_referenced_institution_is_not_deleted_and_related_routes_agree(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], index_now: Any
) -> None:
    admin = keys["admin"]
    institution = await _create(gateway, admin, INSTITUTIONS, {"name": "被引用研究院"})
    expert = await _create(
        gateway,
        admin,
        "/api/v1/experts",
        {"name": "引用者", "affiliations": [{"institution_id": institution["id"]}]},
    )
    outcome = await _create(
        gateway,
        admin,
        "/api/v1/outcomes",
        {"title": "引用报告", "institution_ids": [institution["id"]], "visibility": "internal"},
    )
    path = f"{INSTITUTIONS}/{institution['id']}"
    refused = await gateway.delete(path, headers={**admin, "If-Match": '"v1"'})
    problem = assert_problem(refused, 409)
    assert {tuple(e["loc"]) for e in problem["errors"]} == {
        ("references", "experts"),
        ("references", "outcomes"),
    }
    assert "1 expert(s)" in problem["detail"] and "1 outcome(s)" in problem["detail"]
    assert (await gateway.get(path)).status_code == 200

    # Once nothing refers to it, it goes; its related routes then answer as it does.
    await gateway.delete(f"/api/v1/experts/{expert['id']}", headers={**admin, "If-Match": '"v1"'})
    await gateway.delete(f"/api/v1/outcomes/{outcome['id']}", headers={**admin, "If-Match": '"v1"'})
    assert (await gateway.delete(path, headers={**admin, "If-Match": '"v1"'})).status_code == 204
    await index_now()
    assert_problem(await gateway.get(path), 410)
    for relation in ("children", "experts", "outcomes"):
        assert_problem(await gateway.get(f"{path}/{relation}"), 410)
    assert_problem(await gateway.get(f"{INSTITUTIONS}/ins_0000000000000000000z/experts"), 404)


async def test_related_routes_accept_external_ids(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], index_now: Any
) -> None:
    parent = await _create(
        gateway, keys["admin"], INSTITUTIONS, {"name": "外部编号大学", "ror_id": "02v51f717"}
    )
    child = await _create(
        gateway, keys["admin"], INSTITUTIONS, {"name": "外部编号学院", "parent_id": parent["id"]}
    )
    await index_now()
    children = await gateway.get(f"{INSTITUTIONS}/ror:02v51f717/children")
    assert [r["id"] for r in children.json()["results"]] == [child["id"]]


async def test_merges_never_form_a_loop(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    admin = keys["admin"]
    a, b, c = [await _create(gateway, admin, INSTITUTIONS, {"name": f"合并{n}"}) for n in "ABC"]

    async def merge(record: dict, into: dict, etag: str) -> httpx.Response:
        return await gateway.patch(
            f"{INSTITUTIONS}/{record['id']}",
            json={"status": "merged", "merged_into": into["id"]},
            headers={**admin, "If-Match": etag},
        )

    assert (await merge(a, b, '"v1"')).status_code == 200
    back = assert_problem(await merge(b, a, '"v1"'), 422, "merged_into")
    assert f"merge into {b['id']}" in back["detail"]  # a's successor is named
    chained = assert_problem(await merge(c, a, '"v1"'), 422, "merged_into")
    assert b["id"] in chained["detail"]
    assert (await merge(b, c, '"v1"')).status_code == 200  # b may itself merge on
    # Both ends of a merge are referenced now: neither can be deleted.
    assert_problem(
        await gateway.delete(f"{INSTITUTIONS}/{c['id']}", headers={**admin, "If-Match": '"v1"'}),
        409,
    )
