"""The events library (活动库) through the gateway, on both backends: the record routes,
references checked with their services, visibility on every path, search with facets,
`/experts/{id}/events` and `/institutions/{id}/events`, renames reaching event documents."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.institutions.helpers import assert_problem

EVENTS = "/api/v1/events"


async def _create(gateway: httpx.AsyncClient, key: dict[str, str], path: str, body: dict) -> Any:
    response = await gateway.post(path, json=body, headers=key)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
async def world(gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Two institutions, an expert, an outcome per visibility, and events by cast."""
    admin = keys["admin"]
    tag = uuid.uuid4().hex[:6]
    host = await _create(
        gateway, admin, "/api/v1/institutions", {"name": f"中国科协创新战略研究院{tag}"}
    )
    partner = await _create(gateway, admin, "/api/v1/institutions", {"name": f"清华大学{tag}"})
    expert = await _create(
        gateway,
        admin,
        "/api/v1/experts",
        {"name": "李四", "affiliations": [{"institution_id": partner["id"]}]},
    )
    outcomes = {
        level: await _create(
            gateway,
            admin,
            "/api/v1/outcomes",
            {"title": f"座谈会成果（{level}）{tag}", "visibility": level, "owner_org": "cast"},
        )
        for level in ("public", "internal")
    }
    events = {
        level: await _create(
            gateway,
            admin,
            EVENTS,
            {
                "title": f"智汇双月谈：科技自立自强（{level}）{tag}",
                "kind": "symposium",
                "series": f"智汇双月谈{tag}",
                "series_number": number,
                "starts_on": "2023-06-16",
                "region_code": "110108",
                "venue": "中国科技会堂",
                "organiser_ids": [host["id"]],
                "co_organiser_ids": [partner["id"]],
                "participants": [
                    {"expert_id": expert["id"], "role": "speaker"},
                    {"name": "王五", "role": "host"},
                ],
                "keywords": ["新型举国体制"],
                "outcome_ids": [outcomes["public"]["id"]],
                "visibility": level,
                "owner_org": "cast",
            },
        )
        for number, level in enumerate(("public", "partner", "internal"), start=1)
    }
    return {
        "tag": tag,
        "host": host,
        "partner": partner,
        "expert": expert,
        "outcomes": outcomes,
        "events": events,
    }


async def test_an_event_reads_back_as_written_with_labels_and_province(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], world: dict[str, Any]
) -> None:
    event = world["events"]["public"]
    assert event["id"].startswith("evt_")
    assert event["kind_label"] == "座谈会" and event["visibility_label"] == "公开"
    assert event["province"] == "北京市"  # from the region code
    read = await gateway.get(f"{EVENTS}/{event['id']}", headers=keys["anonymous"])
    assert read.status_code == 200 and read.headers["etag"] == '"v1"'
    assert read.json()["participants"][0] == {
        "expert_id": world["expert"]["id"],
        "name": None,
        "role": "speaker",
        "affiliation": None,
    }


async def test_unknown_event_is_404_and_bad_ids_say_what_is_accepted(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    missing = await gateway.get(f"{EVENTS}/evt_zzzzzzzzzzzzzzzzzzzz", headers=keys["admin"])
    assert_problem(missing, 404)
    assert "evt_" in missing.json()["detail"]
    scheme = await gateway.get(f"{EVENTS}/doi:10.1", headers=keys["admin"])
    assert "evt_" in assert_problem(scheme, 400)["detail"]


async def test_bad_bodies_name_the_field_and_the_fix(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], world: dict[str, Any]
) -> None:
    cases = [
        ({"title": "倒序", "starts_on": "2023-06-16", "ends_on": "2023-06-15"}, "ends_on"),
        ({"title": "无系列", "starts_on": "2023-06-16", "series_number": 3}, "series"),
        ({"title": "错省", "starts_on": "2023-06-16", "region_code": "110108",
          "province": "上海"}, "region_code"),
        ({"title": "坏类型", "starts_on": "2023-06-16", "kind": "party"}, "kind"),
        ({"title": "无日期"}, "starts_on"),
    ]  # fmt: skip
    for body, named in cases:
        response = await gateway.post(EVENTS, json=body, headers=keys["editor"])
        assert_problem(response, 422)
        assert named in response.text, (body, response.text)


async def test_references_must_exist_and_hidden_outcomes_are_no_oracle(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], world: dict[str, Any]
) -> None:
    base = {"title": "引用检查", "starts_on": "2024-01-05", "owner_org": "csae"}
    absent_ins = await gateway.post(
        EVENTS,
        json={**base, "organiser_ids": ["ins_zzzzzzzzzzzzzzzzzzzz"]},
        headers=keys["editor_other"],
    )
    assert_problem(absent_ins, 422)
    assert absent_ins.json()["errors"][0]["loc"] == ["body", "organiser_ids", 0]

    hidden = world["outcomes"]["internal"]["id"]  # cast's: csae's editor cannot see it
    absent = "out_zzzzzzzzzzzzzzzzzzzz"
    refused = [
        await gateway.post(
            EVENTS, json={**base, "outcome_ids": [ref]}, headers=keys["editor_other"]
        )
        for ref in (hidden, absent)
    ]
    assert [r.status_code for r in refused] == [422, 422]
    assert [e["msg"].replace(hidden, "ID") for e in refused[0].json()["errors"]] == [
        e["msg"].replace(absent, "ID") for e in refused[1].json()["errors"]
    ]
    visible = world["outcomes"]["public"]["id"]
    made = await gateway.post(
        EVENTS, json={**base, "outcome_ids": [visible]}, headers=keys["editor_other"]
    )
    assert made.status_code == 201, made.text


async def test_a_series_number_names_one_event(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], world: dict[str, Any]
) -> None:
    taken = world["events"]["public"]
    again = await gateway.post(
        EVENTS,
        json={
            "title": "同一期",
            "starts_on": "2023-08-18",
            "series": taken["series"],
            "series_number": taken["series_number"],
        },
        headers=keys["admin"],
    )
    assert_problem(again, 409)
    assert "series_number" in again.text and taken["id"] in again.text


@pytest.mark.parametrize(
    ("caller", "seen"),
    [
        ("anonymous", {"public"}),
        ("reader", {"public", "partner", "internal"}),
        ("editor_other", {"public", "partner"}),
        ("admin", {"public", "partner", "internal"}),
    ],
)
async def test_visibility_holds_on_reads_lists_search_related_and_stats(
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    world: dict[str, Any],
    index_now,  # type: ignore[no-untyped-def]
    caller: str,
    seen: set[str],
) -> None:
    await index_now()
    h = keys[caller]
    ours = {e["id"]: level for level, e in world["events"].items()}
    for level, event in world["events"].items():
        read = await gateway.get(f"{EVENTS}/{event['id']}", headers=h)
        assert read.status_code == (200 if level in seen else 404), (caller, level)
        if level not in seen:
            assert event["title"] not in read.text

    def levels(body: dict[str, Any]) -> set[str]:
        return {ours[r["id"]] for r in body["results"] if r["id"] in ours}

    tag = world["tag"]
    listed = await gateway.get(EVENTS, params={"q": tag, "page_size": 50}, headers=h)
    assert listed.status_code == 200 and levels(listed.json()) == seen
    for owner in (
        f"/api/v1/institutions/{world['host']['id']}/events",
        f"/api/v1/institutions/{world['partner']['id']}/events",
        f"/api/v1/experts/{world['expert']['id']}/events",
        f"/api/v1/outcomes/{world['outcomes']['public']['id']}/events",
    ):
        related = await gateway.get(owner, params={"page_size": 50}, headers=h)
        assert related.status_code == 200, (owner, related.text)
        assert levels(related.json()) == seen, owner
    stats = await gateway.get(
        "/api/v1/stats/events",
        params={"group_by": "visibility", "filter": f"series:智汇双月谈{tag}"},
        headers=h,
    )
    assert stats.status_code == 200, stats.text
    counted = {row["key"]["visibility"] for row in stats.json()["results"]}
    assert counted == seen
    suggested = await gateway.get(
        "/api/v1/autocomplete", params={"q": "智汇双月谈", "libraries": "events"}, headers=h
    )
    assert suggested.status_code == 200
    assert {ours[s["id"]] for s in suggested.json()["results"] if s["id"] in ours} <= seen


async def test_search_facets_carry_chinese_labels_and_joined_names(
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    world: dict[str, Any],
    index_now,  # type: ignore[no-untyped-def]
) -> None:
    await index_now()
    response = await gateway.get(
        EVENTS,
        params={
            "filter": f"series:智汇双月谈{world['tag']}",
            "facets": "kind,year,province,organiser",
            "page_size": 50,
        },
        headers=keys["admin"],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    facets = body["facets"]
    assert [(b["value"], b["label"], b["count"]) for b in facets["kind"]] == [
        ("symposium", "座谈会", 3)
    ]
    assert {str(b["value"]): b["count"] for b in facets["year"]} == {"2023": 3}
    assert [b["value"] for b in facets["province"]] == ["北京市"]
    organisers = {b["value"]: b["label"] for b in facets["organiser"]}
    assert organisers == {
        world["host"]["id"]: world["host"]["name"],
        world["partner"]["id"]: world["partner"]["name"],
    }
    first = body["results"][0]
    assert first["organiser_names"] == [world["host"]["name"]]
    assert first["participants"][0]["name"] == "李四"  # the expert's name, joined


async def test_a_rename_reaches_the_event_documents(
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    world: dict[str, Any],
    index_now,  # type: ignore[no-untyped-def]
) -> None:
    path = f"/api/v1/experts/{world['expert']['id']}"
    etag = (await gateway.get(path, headers=keys["admin"])).headers["etag"]
    renamed = await gateway.patch(
        path, json={"name": "李思远"}, headers={**keys["admin"], "If-Match": etag}
    )
    assert renamed.status_code == 200, renamed.text
    await index_now()
    found = await gateway.get(EVENTS, params={"q": "李思远"}, headers=keys["admin"])
    ids = {r["id"] for r in found.json()["results"]}
    assert {e["id"] for e in world["events"].values()} <= ids
    names = {
        p["name"] for r in found.json()["results"] if r["id"] in ids for p in r["participants"]
    }
    assert "李思远" in names and "李四" not in names


async def test_an_institution_organising_events_is_not_deleted(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], world: dict[str, Any]
) -> None:
    path = f"/api/v1/institutions/{world['host']['id']}"
    etag = (await gateway.get(path, headers=keys["admin"])).headers["etag"]
    refused = await gateway.delete(path, headers={**keys["admin"], "If-Match": etag})
    assert_problem(refused, 409)
    assert "events" in refused.text
    assert (await gateway.get(path, headers=keys["admin"])).status_code == 200


async def test_writes_follow_role_owner_and_visibility(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], world: dict[str, Any]
) -> None:
    internal = world["events"]["internal"]
    path = f"{EVENTS}/{internal['id']}"
    etag = (await gateway.get(path, headers=keys["admin"])).headers["etag"]
    change = {"venue": "北京会议中心"}
    answers = {
        caller: (
            await gateway.patch(path, json=change, headers={**keys[caller], "If-Match": etag})
        ).status_code
        for caller in ("anonymous", "reader", "editor_other")
    }
    # Another organisation's editor cannot see cast's internal event: a 404, never a 403.
    assert answers == {"anonymous": 401, "reader": 403, "editor_other": 404}
    assert (await gateway.get(path, headers=keys["admin"])).headers["etag"] == etag
    own = await gateway.patch(path, json=change, headers={**keys["editor"], "If-Match": etag})
    assert own.status_code == 200 and own.json()["venue"] == "北京会议中心"
    gone = await gateway.delete(path, headers={**keys["editor"], "If-Match": own.headers["etag"]})
    assert gone.status_code == 204
    assert_problem(await gateway.get(path, headers=keys["admin"]), 410)
