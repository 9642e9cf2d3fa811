"""Dataset definitions on SQLite and PostgreSQL: ok, not found, not allowed, stale, bad input."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from tests.actors import ADMIN
from tests.actors import ANONYMOUS
from tests.actors import BAD_TOKEN
from tests.actors import EDITOR_CAST
from tests.actors import EDITOR_OTHER
from tests.actors import NO_TOKEN
from tests.actors import READER
from tests.actors import SERVICE
from tests.datasets.helpers import FRONTIER
from tests.datasets.helpers import define
from tests.datasets.helpers import post_record
from tests.datasets.helpers import read_dataset
from tests.datasets.helpers import read_record
from tests.datasets.helpers import unique_slug
from tests.helpers import assert_problem
from tests.helpers import changes_after
from tests.helpers import feed_head
from tests.helpers import list_all

# --- create -------------------------------------------------------------------------------


async def test_define_returns_normalised_definition_and_publishes_it(
    client: httpx.AsyncClient,
) -> None:
    head = await feed_head(client)
    slug = unique_slug()
    response = await client.post("/datasets", json={**FRONTIER, "slug": f" {slug} "}, headers=ADMIN)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["slug"] == slug and body["id"].startswith("dst_")
    assert response.headers["etag"] == '"v1"' and body["version"] == 1
    assert response.headers["location"] == f"/datasets/{slug}"
    assert body["owner_org"] == "platform" and body["record_count"] == 0
    assert body["visibility_label"] == "公开"
    kind = next(f for f in body["fields"] if f["name"] == "kind")
    # the shorthand "industry" became an option without a label
    assert kind["enum"] == [
        {"value": "science", "label": "前沿科学问题"},
        {"value": "engineering", "label": "工程技术难题"},
        {"value": "industry", "label": None},
    ]
    feed = await changes_after(client, head)
    assert [(c["entity"], c["op"], c["version"]) for c in feed] == [("dataset", "upsert", 1)]
    published = feed[0]["document"]
    assert published["slug"] == slug and published["title_field"] == "question"
    # the restricted field's definition stays out of the index
    assert "contact" not in [f["name"] for f in published["fields"]]
    assert [f["name"] for f in published["fields"]] == [
        f["name"] for f in FRONTIER["fields"] if not f.get("restricted")
    ]


async def test_define_needs_internal_token(client: httpx.AsyncClient) -> None:
    for headers in (NO_TOKEN, BAD_TOKEN):
        response = await client.post(
            "/datasets", json={**FRONTIER, "slug": unique_slug()}, headers=headers
        )
        assert_problem(response, 401)


async def test_only_admins_define_datasets(client: httpx.AsyncClient) -> None:
    head = await feed_head(client)
    slug = unique_slug()
    for headers in (EDITOR_CAST, READER, ANONYMOUS, SERVICE):
        response = await client.post("/datasets", json={**FRONTIER, "slug": slug}, headers=headers)
        assert_problem(response, 403)
    assert_problem(await read_dataset(client, slug), 404)
    assert await feed_head(client) == head


def _with_field(field: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(FRONTIER)
    body["slug"] = unique_slug()
    body["fields"] = [{**f, **changes} if f["name"] == field["name"] else f for f in body["fields"]]
    return body


def _field(name: str) -> dict[str, Any]:
    return next(f for f in FRONTIER["fields"] if f["name"] == name)


async def test_bad_definitions_are_422_naming_the_problem_and_write_nothing(
    client: httpx.AsyncClient,
) -> None:
    head = await feed_head(client)
    base = {**FRONTIER}
    bad: list[tuple[dict[str, Any], str]] = [
        ({**base, "slug": "../../etc"}, "slug"),
        ({**base, "slug": "a%2fb"}, "slug"),
        ({**base, "slug": "frontier/x"}, "slug"),
        ({**base, "slug": "Frontier"}, "slug"),
        ({**base, "slug": "x"}, "slug"),
        ({**base, "slug": "-frontier"}, "slug"),
        ({**base, "slug": "records"}, "slug"),
        ({**base, "slug": "f" * 65}, "slug"),
        ({**base, "slug": "前沿问题"}, "slug"),
        ({**base, "slug": unique_slug(), "name": "  "}, "name"),
        ({**base, "slug": unique_slug(), "visibility": "secret"}, "visibility"),
        ({**base, "slug": unique_slug(), "fields": []}, "fields"),
        ({**base, "slug": unique_slug(), "title_field": "year"}, "title_field"),
        ({**base, "slug": unique_slug(), "title_field": "headline"}, "title_field"),
        ({**base, "slug": unique_slug(), "colour": "red"}, "colour"),
        (_with_field(_field("year"), name="Year"), "fields"),
        (_with_field(_field("year"), name="question"), "question"),
        (_with_field(_field("year"), type="ref:people"), "ref:people"),
        (_with_field(_field("year"), type="float"), "float"),
        (_with_field(_field("question"), facetable=True), "facet"),
        (_with_field(_field("question"), filterable=True), "filter"),
        (_with_field(_field("institutions"), sortable=True), "sortable"),
        (_with_field(_field("score"), searchable=True), "searchable"),
        (_with_field(_field("question"), enum=["a"]), "enum"),
        (_with_field(_field("kind"), enum=["science", "science"]), "twice"),
        (_with_field(_field("year"), enum=["2023"]), "integer"),
        (_with_field(_field("contact"), searchable=True), "restricted"),
        (_with_field(_field("selected"), multiple=True), "boolean"),
        (_with_field(_field("year"), label=""), "label"),
        (_with_field(_field("year"), colour="red"), "colour"),
    ]
    for body, needle in bad:
        response = await client.post("/datasets", json=body, headers=ADMIN)
        problem = assert_problem(response, 422)
        locs = [".".join(str(p) for p in e["loc"]) for e in problem["errors"]]
        assert any(needle in loc for loc in locs) or needle in problem["detail"], (needle, problem)
    assert await feed_head(client) == head


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/datasets", content=b'{"slug": "x",', headers={**ADMIN, "content-type": "application/json"}
    )
    assert assert_problem(response, 400)["type"] == "/problems/malformed-json"


async def test_a_slug_names_one_live_dataset(client: httpx.AsyncClient) -> None:
    first = await define(client)
    response = await client.post(
        "/datasets", json={**FRONTIER, "slug": first["slug"]}, headers=ADMIN
    )
    problem = assert_problem(response, 409, "slug")
    assert first["id"] in problem["detail"]


# --- read ---------------------------------------------------------------------------------


async def test_read_definition_with_etag_and_record_count(client: httpx.AsyncClient) -> None:
    dataset = await define(client)
    await post_record(client, dataset["slug"], {"question": "暗物质的本质是什么？"})
    response = await read_dataset(client, dataset["slug"], ANONYMOUS)
    assert response.status_code == 200
    assert response.headers["etag"] == '"v1"'
    body = response.json()
    assert body["record_count"] == 1 and body["fields"] == dataset["fields"]


async def test_read_unknown_is_404_and_needs_token(client: httpx.AsyncClient) -> None:
    assert_problem(await read_dataset(client, "no-such-dataset"), 404)
    assert_problem(await read_dataset(client, "..%2F..%2Fetc"), 404)
    dataset = await define(client)
    assert_problem(await read_dataset(client, dataset["slug"], NO_TOKEN), 401)


async def test_visibility_hides_datasets_from_who_may_not_see_them(
    client: httpx.AsyncClient,
) -> None:
    partner = await define(client, visibility="partner")
    internal = await define(client, visibility="internal", owner_org="cast")
    for headers, sees_partner, sees_internal in (
        (ANONYMOUS, False, False),
        (READER, True, True),  # reader of cast: partner data and its own org's internal
        (EDITOR_OTHER, True, False),
        (ADMIN, True, True),
        (SERVICE, True, True),
    ):
        for dataset, sees in ((partner, sees_partner), (internal, sees_internal)):
            response = await read_dataset(client, dataset["slug"], headers)
            if sees:
                assert response.status_code == 200, (headers, dataset["visibility"])
            else:
                assert_problem(response, 404)
        shown = await list_all(client, "/datasets", page_size=2, headers=headers)
        listed = {d["slug"] for d in shown}
        assert (partner["slug"] in listed) is sees_partner
        assert (internal["slug"] in listed) is sees_internal


async def test_list_pages_by_slug(client: httpx.AsyncClient) -> None:
    made = {(await define(client))["slug"] for _ in range(3)}
    seen = [d["slug"] for d in await list_all(client, "/datasets", page_size=2)]
    assert seen == sorted(seen) and len(seen) == len(set(seen)) and made <= set(seen)
    assert_problem(await client.get("/datasets", params={"cursor": "!!"}, headers=SERVICE), 400)


# --- patch --------------------------------------------------------------------------------


async def test_patch_definition_bumps_version_and_publishes(client: httpx.AsyncClient) -> None:
    dataset = await define(client)
    head = await feed_head(client)
    response = await client.patch(
        f"/datasets/{dataset['slug']}",
        json={"description": "中国科协每年发布的重大问题。", "name_en": None},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == 2 and response.headers["etag"] == '"v2"'
    assert body["name_en"] is None and body["description"].startswith("中国科协")
    assert response.headers["zhihui-migrated"] == "0"
    feed = await changes_after(client, head)
    assert [(c["entity"], c["version"]) for c in feed] == [("dataset", 2)]
    same = await client.patch(
        f"/datasets/{dataset['slug']}",
        json={"name_en": None},
        headers={**ADMIN, "If-Match": '"v2"'},
    )
    assert same.status_code == 200 and same.json()["version"] == 2
    assert await feed_head(client) == head + 1


async def test_patch_definition_needs_current_etag(client: httpx.AsyncClient) -> None:
    dataset = await define(client)
    url = f"/datasets/{dataset['slug']}"
    renamed = await client.patch(
        url, json={"name": "新名称"}, headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert renamed.status_code == 200
    head = await feed_head(client)
    stale = await client.patch(url, json={"name": "旧名称"}, headers={**ADMIN, "If-Match": '"v1"'})
    assert_problem(stale, 412)
    assert stale.headers["etag"] == '"v2"'
    assert_problem(await client.patch(url, json={"name": "x"}, headers=ADMIN), 428, "If-Match")
    stored = (await read_dataset(client, dataset["slug"])).json()
    assert stored["name"] == "新名称" and stored["version"] == 2
    assert await feed_head(client) == head


async def test_patch_definition_not_allowed_or_not_found(client: httpx.AsyncClient) -> None:
    dataset = await define(client)
    url = f"/datasets/{dataset['slug']}"
    for headers in (EDITOR_CAST, READER, SERVICE):
        response = await client.patch(
            url, json={"name": "x"}, headers={**headers, "If-Match": '"v1"'}
        )
        assert_problem(response, 403)
    assert_problem(await client.patch(url, json={"name": "x"}, headers=NO_TOKEN), 401)
    missing = await client.patch(
        "/datasets/no-such-dataset", json={"name": "x"}, headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert_problem(missing, 404)
    assert (await read_dataset(client, dataset["slug"])).json()["version"] == 1


async def test_patch_definition_bad_input_is_422_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    dataset = await define(client)
    url = f"/datasets/{dataset['slug']}"
    head = await feed_head(client)
    for body, field in (
        ({"slug": unique_slug()}, "slug"),
        ({"visibility": "everyone"}, "visibility"),
        ({"version": 7}, "version"),
        ({"colour": "red"}, "colour"),
        ({"title_field": "year"}, "title_field"),
        ({"fields": [{"name": "question", "label": "问题", "type": "text"}], "title_field": "x"},
         "title_field"),
        ({"name": None}, "name"),
    ):  # fmt: skip
        response = await client.patch(url, json=body, headers={**ADMIN, "If-Match": '"v1"'})
        assert_problem(response, 422, field)
    not_object = await client.patch(url, json=[1], headers={**ADMIN, "If-Match": '"v1"'})
    assert_problem(not_object, 422)
    assert await feed_head(client) == head


# --- delete -------------------------------------------------------------------------------


async def test_delete_dataset_rules(client: httpx.AsyncClient) -> None:
    dataset = await define(client)
    record = await post_record(client, dataset["slug"], {"question": "意识的物质基础是什么？"})
    url = f"/datasets/{dataset['slug']}"
    head = await feed_head(client)
    for headers in (EDITOR_CAST, READER):
        assert_problem(await client.delete(url, headers={**headers, "If-Match": '"v1"'}), 403)
    assert_problem(await client.delete(url, headers=ADMIN), 428)
    assert_problem(await client.delete(url, headers={**ADMIN, "If-Match": '"v9"'}), 412)
    assert_problem(
        await client.delete("/datasets/no-such-dataset", headers={**ADMIN, "If-Match": '"v1"'}),
        404,
    )
    assert await feed_head(client) == head
    assert (await read_record(client, dataset["slug"], record["id"])).status_code == 200
    response = await client.delete(url, headers={**ADMIN, "If-Match": '"v1"'})
    assert response.status_code == 204
    assert response.headers["zhihui-deleted-records"] == "1"
    assert_problem(await read_dataset(client, dataset["slug"]), 410)
    assert_problem(await read_record(client, dataset["slug"], record["id"]), 410)
    assert_problem(await client.delete(url, headers={**ADMIN, "If-Match": '"v2"'}), 410)
    # the slug is free again; the old records do not come back with it
    again = await define(client, slug=dataset["slug"])
    assert again["id"] != dataset["id"] and again["record_count"] == 0
    assert_problem(await read_record(client, dataset["slug"], record["id"]), 404)
