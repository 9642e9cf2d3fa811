"""Dataset records on SQLite and PostgreSQL: typed validation, references, ownership, ETags."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.datasets.config import DatasetsSettings
from services.datasets.main import create_app
from services.kernel.db import Database
from services.kernel.http import ServiceClient
from services.kernel.settings import PlatformSettings
from tests.actors import ADMIN
from tests.actors import ANONYMOUS
from tests.actors import BAD_TOKEN
from tests.actors import EDITOR_CAST
from tests.actors import EDITOR_OTHER
from tests.actors import NO_TOKEN
from tests.actors import READER
from tests.actors import SERVICE
from tests.conftest import asgi_client
from tests.data import universities
from tests.datasets.helpers import define
from tests.datasets.helpers import institution
from tests.datasets.helpers import post_record
from tests.datasets.helpers import read_record
from tests.helpers import assert_problem
from tests.helpers import changes_after
from tests.helpers import feed_head
from tests.helpers import list_all


@pytest.fixture(scope="module")
async def frontier(client: httpx.AsyncClient) -> dict[str, Any]:
    return await define(client)


@pytest.fixture(scope="module")
async def universities_ids(institutions: httpx.AsyncClient) -> list[str]:
    """Three real universities in the institutions service."""
    return [await institution(institutions, name) for name, _ in universities()[:3]]


def _full(universities_ids: list[str], live_experts: set[str]) -> dict[str, Any]:
    return {
        "question": "  如何实现可控核聚变的稳态运行？\n\n（能源领域）",
        "year": "2023",
        "kind": "engineering",
        "field_code": "E0601",
        "institutions": [universities_ids[0], universities_ids[1], universities_ids[0]],
        "experts": sorted(live_experts)[:2],
        "published_on": "2023-06-10",
        "score": 9,
        "selected": "是",
        "contact": "office@example.org.cn",
    }


# --- create -------------------------------------------------------------------------------


async def test_create_stores_typed_values_and_publishes_document(
    client: httpx.AsyncClient,
    frontier: dict[str, Any],
    universities_ids: list[str],
    live_experts: set[str],
) -> None:
    slug = frontier["slug"]
    head = await feed_head(client)
    response = await client.post(
        f"/datasets/{slug}/records",
        json={"values": _full(universities_ids, live_experts)},
        headers=EDITOR_CAST,
    )
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["id"].startswith("dsr_") and len(record["id"]) == 24
    assert response.headers["location"] == f"/datasets/{slug}/records/{record['id']}"
    assert response.headers["etag"] == '"v1"' and record["owner_org"] == "cast"
    values = record["values"]
    assert values["question"] == "如何实现可控核聚变的稳态运行？\n\n（能源领域）"
    assert record["title"] == values["question"] and record["dataset"] == slug
    assert values["year"] == 2023 and values["score"] == 9.0 and values["selected"] is True
    assert values["institutions"] == universities_ids[:2]  # duplicate dropped, order kept
    assert values["contact"] == "office@example.org.cn"  # the owner's editor sees it
    assert record["labels"] == {"kind": "工程技术难题"}
    feed = await changes_after(client, head)
    assert [(c["entity"], c["record_id"], c["op"], c["version"]) for c in feed] == [
        ("dataset_record", record["id"], "upsert", 1)
    ]
    document = feed[0]["document"]
    assert document["dataset"] == slug and document["visibility"] == "public"
    assert document["values"]["year"] == 2023 and document["labels"] == {"kind": "工程技术难题"}
    assert document["refs"] == {
        "institutions": universities_ids[:2],
        "experts": sorted(live_experts)[:2],
    }
    assert "contact" not in document["values"] and "office@" not in str(document)


async def test_restricted_values_only_for_admins_and_the_owners_editors(
    client: httpx.AsyncClient, frontier: dict[str, Any]
) -> None:
    record = await post_record(
        client, frontier["slug"], {"question": "什么是生命？", "contact": "a@b.cn"}, EDITOR_CAST
    )
    for headers, sees in (
        (ADMIN, True),
        (EDITOR_CAST, True),
        (EDITOR_OTHER, False),
        (READER, False),
        (ANONYMOUS, False),
    ):
        body = (await read_record(client, frontier["slug"], record["id"], headers)).json()
        assert ("contact" in body["values"]) is sees, headers
        if sees:
            assert body["values"]["contact"] == "a@b.cn"


async def test_invalid_record_gets_field_level_errors_and_writes_nothing(
    client: httpx.AsyncClient, frontier: dict[str, Any], universities_ids: list[str]
) -> None:
    head = await feed_head(client)
    values = {
        "year": "nineteen",
        "kind": "philosophy",
        "institutions": [universities_ids[0], "ins_00000000000000000000", "清华大学"],
        "experts": "exp_0000",
        "published_on": "2023-02-30",
        "score": "high",
        "selected": "maybe",
        "colour": "red",
        "field_code": "x" * 501,
    }
    response = await client.post(
        f"/datasets/{frontier['slug']}/records", json={"values": values}, headers=ADMIN
    )
    problem = assert_problem(response, 422)
    errors = {tuple(e["loc"]): e for e in problem["errors"]}
    expected = {
        ("body", "values", "question"): "missing",
        ("body", "values", "year"): "type_error",
        ("body", "values", "kind"): "enum",
        ("body", "values", "institutions", 2): "invalid_reference",
        ("body", "values", "experts"): "type_error",
        ("body", "values", "published_on"): "value_error",
        ("body", "values", "score"): "type_error",
        ("body", "values", "selected"): "type_error",
        ("body", "values", "colour"): "unknown_field",
        ("body", "values", "field_code"): "too_long",
    }
    assert {loc: e["type"] for loc, e in errors.items()} == expected
    assert "前沿科学问题" in errors[("body", "values", "kind")]["msg"]  # allowed values, labelled
    assert await feed_head(client) == head
    # a well-shaped ID that names no live institution is caught by asking the service
    unknown = await client.post(
        f"/datasets/{frontier['slug']}/records",
        json={
            "values": {
                "question": "q",
                "institutions": [universities_ids[0], "ins_00000000000000000000"],
            }
        },
        headers=ADMIN,
    )
    problem = assert_problem(unknown, 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", "values", "institutions", 1]]
    unknown_expert = await client.post(
        f"/datasets/{frontier['slug']}/records",
        json={"values": {"question": "q", "experts": ["exp_00000000000000000000"]}},
        headers=ADMIN,
    )
    assert_problem(unknown_expert, 422, "values.experts.0")
    assert await feed_head(client) == head


async def test_a_deleted_institution_can_no_longer_be_referenced(
    client: httpx.AsyncClient, frontier: dict[str, Any], institutions: httpx.AsyncClient
) -> None:
    gone = await institution(institutions, universities()[10][0])
    deleted = await institutions.delete(
        f"/institutions/{gone}", headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert deleted.status_code == 204
    response = await client.post(
        f"/datasets/{frontier['slug']}/records",
        json={"values": {"question": "q", "institutions": [gone]}},
        headers=ADMIN,
    )
    assert_problem(response, 422, "values.institutions.0")


async def test_create_not_allowed(client: httpx.AsyncClient, frontier: dict[str, Any]) -> None:
    url = f"/datasets/{frontier['slug']}/records"
    head = await feed_head(client)
    body = {"values": {"question": "q"}}
    for headers in (NO_TOKEN, BAD_TOKEN):
        assert_problem(await client.post(url, json=body, headers=headers), 401)
    for headers in (READER, ANONYMOUS, SERVICE):
        assert_problem(await client.post(url, json=body, headers=headers), 403)
    foreign = await client.post(url, json={**body, "owner_org": "csae"}, headers=EDITOR_CAST)
    assert_problem(foreign, 403)
    assert await feed_head(client) == head
    on_behalf = await post_record(client, frontier["slug"], {"question": "q"}, owner_org="csae")
    assert on_behalf["owner_org"] == "csae"


async def test_create_in_unknown_or_hidden_dataset_is_404(client: httpx.AsyncClient) -> None:
    body = {"values": {"question": "q"}}
    missing = await client.post("/datasets/no-such-dataset/records", json=body, headers=ADMIN)
    assert_problem(missing, 404)
    hidden = await define(client, visibility="internal", owner_org="cast")
    response = await client.post(
        f"/datasets/{hidden['slug']}/records", json=body, headers=EDITOR_OTHER
    )
    assert_problem(response, 404)
    mine = await client.post(f"/datasets/{hidden['slug']}/records", json=body, headers=EDITOR_CAST)
    assert mine.status_code == 201


async def test_bad_record_envelope_is_422_or_400(
    client: httpx.AsyncClient, frontier: dict[str, Any]
) -> None:
    url = f"/datasets/{frontier['slug']}/records"
    for body, field in (
        ({"values": {"question": "q"}, "colour": "red"}, "colour"),
        ({"values": ["q"]}, "values"),
        ({"values": {"question": "q"}, "source": "import-2024"}, "external_id"),
        ({"values": {"question": "q"}, "owner_org": "../x"}, "owner_org"),
    ):
        assert_problem(await client.post(url, json=body, headers=ADMIN), 422, field)
    malformed = await client.post(
        url, content=b'{"values": {', headers={**ADMIN, "content-type": "application/json"}
    )
    assert_problem(malformed, 400)


# --- read ---------------------------------------------------------------------------------


async def test_read_record_ok_not_found_and_wrong_dataset(
    client: httpx.AsyncClient, frontier: dict[str, Any]
) -> None:
    record = await post_record(client, frontier["slug"], {"question": "宇宙的起源", "year": 2021})
    response = await read_record(client, frontier["slug"], record["id"], ANONYMOUS)
    assert response.status_code == 200 and response.headers["etag"] == '"v1"'
    body = response.json()
    # every public field is present, null when the record has no value
    assert body["values"]["kind"] is None and body["values"]["year"] == 2021
    assert "contact" not in body["values"]
    assert_problem(await read_record(client, frontier["slug"], "dsr_zzzzzzzzzzzzzzzzzzzz"), 404)
    other = await define(client)
    assert_problem(await read_record(client, other["slug"], record["id"]), 404)
    assert_problem(await read_record(client, "no-such-dataset", record["id"]), 404)
    assert_problem(await read_record(client, frontier["slug"], record["id"], NO_TOKEN), 401)


async def test_list_records_by_cursor_and_ids(
    client: httpx.AsyncClient, frontier: dict[str, Any]
) -> None:
    other = await define(client)
    made = [await post_record(client, other["slug"], {"question": f"问题{i}"}) for i in range(5)]
    listed = await list_all(client, f"/datasets/{other['slug']}/records", page_size=2)
    seen = [r["id"] for r in listed]
    assert seen == sorted(m["id"] for m in made)
    ids = ",".join(m["id"] for m in made[:2])
    by_ids = await client.get(
        f"/datasets/{other['slug']}/records", params={"ids": ids}, headers=SERVICE
    )
    assert [r["id"] for r in by_ids.json()["results"]] == sorted(m["id"] for m in made[:2])
    # IDs of another dataset's records are not listed here
    foreign = await post_record(client, frontier["slug"], {"question": "q"})
    elsewhere = await client.get(
        f"/datasets/{other['slug']}/records", params={"ids": foreign["id"]}, headers=SERVICE
    )
    assert elsewhere.json()["results"] == []
    too_many = ",".join(["dsr_x"] * 101)
    assert_problem(
        await client.get(
            f"/datasets/{other['slug']}/records", params={"ids": too_many}, headers=SERVICE
        ),
        400,
    )


# --- patch --------------------------------------------------------------------------------


async def test_patch_merges_values_and_bumps_version(
    client: httpx.AsyncClient, frontier: dict[str, Any]
) -> None:
    record = await post_record(
        client,
        frontier["slug"],
        {"question": "深海生命", "year": 2022, "kind": "science"},
        EDITOR_CAST,
    )
    url = f"/datasets/{frontier['slug']}/records/{record['id']}"
    head = await feed_head(client)
    response = await client.patch(
        url,
        json={"values": {"year": None, "score": 7.5}},
        headers={**EDITOR_CAST, "If-Match": '"v1"', "content-type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["values"]["year"] is None and body["values"]["score"] == 7.5
    assert body["values"]["kind"] == "science" and body["values"]["question"] == "深海生命"
    assert body["version"] == 2 and response.headers["etag"] == '"v2"'
    feed = await changes_after(client, head)
    assert [(c["op"], c["version"]) for c in feed] == [("upsert", 2)]
    assert "year" not in feed[0]["document"]["values"]
    same = await client.patch(
        url, json={"values": {"score": 7.5}}, headers={**EDITOR_CAST, "If-Match": '"v2"'}
    )
    assert same.status_code == 200 and same.json()["version"] == 2
    assert await feed_head(client) == head + 1


async def test_patch_stale_etag_is_412_and_nothing_written(
    client: httpx.AsyncClient, frontier: dict[str, Any]
) -> None:
    record = await post_record(client, frontier["slug"], {"question": "黑洞信息悖论"})
    url = f"/datasets/{frontier['slug']}/records/{record['id']}"
    ok = await client.patch(
        url, json={"values": {"year": 2020}}, headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert ok.status_code == 200
    head = await feed_head(client)
    stale = await client.patch(
        url, json={"values": {"year": 2019}}, headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert_problem(stale, 412)
    assert stale.headers["etag"] == '"v2"'
    assert_problem(await client.patch(url, json={"values": {}}, headers=ADMIN), 428, "If-Match")
    stored = (await read_record(client, frontier["slug"], record["id"])).json()
    assert stored["values"]["year"] == 2020 and stored["version"] == 2
    assert await feed_head(client) == head


async def test_patch_not_allowed_and_not_found(
    client: httpx.AsyncClient, frontier: dict[str, Any]
) -> None:
    record = await post_record(client, frontier["slug"], {"question": "q"}, EDITOR_CAST)
    url = f"/datasets/{frontier['slug']}/records/{record['id']}"
    for headers in (EDITOR_OTHER, READER):
        response = await client.patch(
            url, json={"values": {"year": 1}}, headers={**headers, "If-Match": '"v1"'}
        )
        assert_problem(response, 403)
    handover = await client.patch(
        url, json={"owner_org": "csae"}, headers={**EDITOR_CAST, "If-Match": '"v1"'}
    )
    assert_problem(handover, 403)
    missing = await client.patch(
        f"/datasets/{frontier['slug']}/records/dsr_zzzzzzzzzzzzzzzzzzzz",
        json={"values": {}},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert_problem(missing, 404)
    assert (await read_record(client, frontier["slug"], record["id"])).json()["version"] == 1


async def test_patch_bad_values_are_422_naming_the_field(
    client: httpx.AsyncClient, frontier: dict[str, Any]
) -> None:
    record = await post_record(client, frontier["slug"], {"question": "q"})
    url = f"/datasets/{frontier['slug']}/records/{record['id']}"
    head = await feed_head(client)
    for body, field in (
        ({"values": {"year": 2.5}}, "values.year"),
        ({"values": {"question": None}}, "values.question"),
        ({"values": {"question": "spoof\u202etxt"}}, "values.question"),
        ({"values": {"published_on": "10/06/2023"}}, "values.published_on"),
        ({"values": {"institutions": "ins_00000000000000000000"}}, "values.institutions"),
        ({"version": 5}, "version"),
        ({"colour": "red"}, "colour"),
    ):
        response = await client.patch(url, json=body, headers={**ADMIN, "If-Match": '"v1"'})
        assert_problem(response, 422, field)
    assert await feed_head(client) == head


# --- delete -------------------------------------------------------------------------------


async def test_delete_record_leaves_tombstone(
    client: httpx.AsyncClient, frontier: dict[str, Any]
) -> None:
    record = await post_record(client, frontier["slug"], {"question": "q"}, EDITOR_CAST)
    url = f"/datasets/{frontier['slug']}/records/{record['id']}"
    head = await feed_head(client)
    assert_problem(await client.delete(url, headers={**EDITOR_OTHER, "If-Match": '"v1"'}), 403)
    assert_problem(await client.delete(url, headers={**READER, "If-Match": '"v1"'}), 403)
    assert_problem(await client.delete(url, headers=EDITOR_CAST), 428)
    assert_problem(await client.delete(url, headers={**EDITOR_CAST, "If-Match": '"v2"'}), 412)
    assert await feed_head(client) == head
    response = await client.delete(url, headers={**EDITOR_CAST, "If-Match": '"v1"'})
    assert response.status_code == 204
    assert_problem(await read_record(client, frontier["slug"], record["id"]), 410)
    feed = await changes_after(client, head)
    assert [(c["record_id"], c["op"], c["version"], c["document"]) for c in feed] == [
        (record["id"], "delete", 2, None)
    ]
    assert_problem(await client.delete(url, headers={**ADMIN, "If-Match": '"v2"'}), 410)


# --- upsert -------------------------------------------------------------------------------


async def test_upsert_creates_then_is_unchanged_then_updates(
    client: httpx.AsyncClient, frontier: dict[str, Any]
) -> None:
    url = f"/datasets/{frontier['slug']}/records/sources/cast-2023/E-07"
    body = {"values": {"question": "如何突破高端芯片制造的关键工艺？", "year": 2023}}
    first = await client.put(url, json=body, headers=EDITOR_CAST)
    assert first.status_code == 201 and first.headers["zhihui-upsert"] == "created"
    record = first.json()
    assert record["source"] == "cast-2023" and record["external_id"] == "E-07"
    head = await feed_head(client)
    again = await client.put(url, json=body, headers=EDITOR_CAST)
    assert again.status_code == 200 and again.headers["zhihui-upsert"] == "unchanged"
    assert again.json()["version"] == 1 and again.json()["id"] == record["id"]
    assert await feed_head(client) == head
    changed = await client.put(
        url, json={"values": {**body["values"], "kind": "engineering"}}, headers=EDITOR_CAST
    )
    assert changed.headers["zhihui-upsert"] == "updated" and changed.json()["version"] == 2
    # the full body replaces the values: a field left out is cleared
    cleared = await client.put(url, json={"values": {"question": "q"}}, headers=EDITOR_CAST)
    assert cleared.json()["values"]["year"] is None and cleared.json()["version"] == 3
    # the same key in another dataset is another record
    other = await define(client)
    elsewhere = await client.put(
        f"/datasets/{other['slug']}/records/sources/cast-2023/E-07", json=body, headers=ADMIN
    )
    assert elsewhere.status_code == 201 and elsewhere.json()["id"] != record["id"]


async def test_upsert_not_allowed_and_bad_input(
    client: httpx.AsyncClient, frontier: dict[str, Any]
) -> None:
    url = f"/datasets/{frontier['slug']}/records/sources/society-x/1"
    body = {"values": {"question": "q"}}
    assert (await client.put(url, json=body, headers=EDITOR_CAST)).status_code == 201
    head = await feed_head(client)
    assert_problem(await client.put(url, json=body, headers=READER), 403)
    assert_problem(await client.put(url, json=body, headers=NO_TOKEN), 401)
    bad = await client.put(url, json={"values": {"year": "x"}}, headers=EDITOR_CAST)
    assert_problem(bad, 422, "values.year")
    missing = await client.put(
        "/datasets/no-such-dataset/records/sources/society-x/1", json=body, headers=ADMIN
    )
    assert_problem(missing, 404)
    assert await feed_head(client) == head


async def test_duplicate_source_key_is_409(
    client: httpx.AsyncClient, frontier: dict[str, Any]
) -> None:
    first = await post_record(
        client, frontier["slug"], {"question": "q"}, source="cast-2022", external_id="S-01"
    )
    response = await client.post(
        f"/datasets/{frontier['slug']}/records",
        json={"values": {"question": "q2"}, "source": "cast-2022", "external_id": "S-01"},
        headers=ADMIN,
    )
    problem = assert_problem(response, 409, "external_id")
    assert first["id"] in problem["detail"]


# --- references when the owning service is down -------------------------------------------


async def test_unreachable_library_is_503_and_writes_nothing(
    client: httpx.AsyncClient,
    datasets_db: Database,
    platform_settings: PlatformSettings,
    frontier: dict[str, Any],
    universities_ids: list[str],
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    down = ServiceClient(
        "institutions", "http://institutions", "token", transport=httpx.MockTransport(refuse)
    )
    app = create_app(DatasetsSettings(), platform_settings, datasets_db, {"institutions": down})
    head = await feed_head(client)
    async with asgi_client(app) as degraded:
        response = await degraded.post(
            f"/datasets/{frontier['slug']}/records",
            json={"values": {"question": "q", "institutions": universities_ids[:1]}},
            headers=ADMIN,
        )
        problem = assert_problem(response, 503)
        assert "institutions" in problem["detail"] and response.headers["retry-after"]
        # records without references do not need the peer
        plain = await degraded.post(
            f"/datasets/{frontier['slug']}/records",
            json={"values": {"question": "q"}},
            headers=ADMIN,
        )
        assert plain.status_code == 201
    assert await feed_head(client) == head + 1
    await down.aclose()


def test_default_clients_come_from_settings(
    monkeypatch: pytest.MonkeyPatch, platform_settings: PlatformSettings
) -> None:
    monkeypatch.setenv("ZHIHUI_DATASETS_EXPERTS_URL", "http://experts.internal:9102")
    app = create_app(DatasetsSettings(), platform_settings)
    clients = app.state.peers
    assert set(clients) == {"institutions", "experts", "outcomes", "events"}
    assert str(clients["experts"]._client.base_url) == "http://experts.internal:9102"
    assert str(clients["institutions"]._client.base_url) == "http://127.0.0.1:8101"
    assert DatasetsSettings().port == 8104
