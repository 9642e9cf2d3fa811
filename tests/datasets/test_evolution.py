"""Changing a definition against stored records, and deleting a dataset, on both backends."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx

from tests.actors import ADMIN
from tests.data import universities
from tests.datasets.helpers import FRONTIER
from tests.datasets.helpers import define
from tests.datasets.helpers import institution
from tests.datasets.helpers import post_record
from tests.datasets.helpers import read_dataset
from tests.datasets.helpers import read_record
from tests.helpers import assert_problem
from tests.helpers import changes_after
from tests.helpers import feed_head
from tests.helpers import list_all


def _fields(**changes: dict[str, Any]) -> list[dict[str, Any]]:
    """FRONTIER's fields with some replaced (`name=None` drops it) and new ones appended."""
    fields = []
    for field in copy.deepcopy(FRONTIER["fields"]):
        if field["name"] in changes:
            change = changes.pop(field["name"])
            if change is None:
                continue
            field = {**field, **change}
        fields.append(field)
    return fields + [{"name": name, **spec} for name, spec in changes.items() if spec]


async def _patch(
    client: httpx.AsyncClient, slug: str, version: int, body: dict[str, Any], **params: Any
) -> httpx.Response:
    return await client.patch(
        f"/datasets/{slug}",
        json=body,
        params=params,
        headers={**ADMIN, "If-Match": f'"v{version}"'},
    )


async def _all_records(client: httpx.AsyncClient, slug: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in await list_all(client, f"/datasets/{slug}/records")}


async def test_definition_round_trip(client: httpx.AsyncClient) -> None:
    """Define, add records, reject a bad one, refuse a breaking change, migrate a lossless one."""
    dataset = await define(client)
    slug = dataset["slug"]
    with_year = await post_record(
        client,
        slug,
        {
            "question": "高温超导的机理是什么？",
            "year": 2018,
            "kind": "science",
            "field_code": "A04",
        },
    )
    other_year = await post_record(
        client, slug, {"question": "如何研制新型催化剂？", "year": 2019, "kind": "engineering"}
    )
    no_year = await post_record(client, slug, {"question": "地球深部结构如何探测？"})
    invalid = await client.post(
        f"/datasets/{slug}/records", json={"values": {"year": "2018年"}}, headers=ADMIN
    )
    problem = assert_problem(invalid, 422)
    assert {tuple(e["loc"]) for e in problem["errors"]} == {
        ("body", "values", "year"),
        ("body", "values", "question"),
    }

    # Breaking changes are refused, each field with how many records it affects.
    head = await feed_head(client)
    breaking = {
        "fields": _fields(
            year={"required": True},
            kind={"enum": [{"value": "science", "label": "科学问题"}]},
            field_code={"type": "integer"},
            score=None,
            selected=None,
            contact=None,
            experts={"type": "ref:outcomes"},
            region={"label": "地区", "type": "keyword", "required": True},
        )
    }
    refused = await _patch(client, slug, 1, breaking)
    problem = assert_problem(refused, 409)
    by_field = {e["loc"][-1]: e["msg"] for e in problem["errors"]}
    assert set(by_field) == {"year", "kind", "field_code", "region"}
    assert by_field["year"].startswith("the field would be required but 1 record(s)")
    assert no_year["id"] in by_field["year"]
    assert by_field["kind"].startswith("1 record(s) have a value the new enum does not allow")
    assert "'A04'" in by_field["field_code"]
    assert by_field["region"].startswith("the field would be required but 3 record(s)")
    assert all(e["type"] == "incompatible_change" for e in problem["errors"])
    assert (await read_dataset(client, slug)).json()["version"] == 1
    assert await feed_head(client) == head

    # A lossless change migrates the records it touches: new versions, new feed documents.
    compatible = {
        "fields": _fields(
            year={"type": "number", "facetable": False},
            field_code={"type": "text", "filterable": False},
            region={"label": "地区", "type": "keyword", "facetable": True},
        )
    }
    response = await _patch(client, slug, 1, compatible)
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2 and response.headers["zhihui-migrated"] == "2"
    records = await _all_records(client, slug)
    assert records[with_year["id"]]["values"]["year"] == 2018.0
    assert records[with_year["id"]]["version"] == 2 and records[other_year["id"]]["version"] == 2
    assert records[no_year["id"]]["version"] == 1  # nothing of it changed
    assert records[with_year["id"]]["values"]["region"] is None
    feed = await changes_after(client, head)
    assert [(c["entity"], c["record_id"], c["version"]) for c in feed] == [
        ("dataset", dataset["id"], 2),
        *sorted([("dataset_record", with_year["id"], 2), ("dataset_record", other_year["id"], 2)]),
    ]
    migrated = next(c for c in feed if c["record_id"] == with_year["id"])["document"]
    assert migrated["values"]["year"] == 2018.0 and migrated["values"]["field_code"] == "A04"
    assert migrated["version"] == 2
    assert (await read_record(client, slug, with_year["id"])).headers["etag"] == '"v2"'
    # the new definition validates new records
    assert_problem(
        await client.post(
            f"/datasets/{slug}/records",
            json={"values": {"question": "q", "year": "soon"}},
            headers=ADMIN,
        ),
        422,
        "values.year",
    )
    fractional = await post_record(client, slug, {"question": "q", "year": 2020.5})
    assert fractional["values"]["year"] == 2020.5
    # and back to integer is refused while a fractional year is stored
    integer_again = _fields(region={"label": "地区", "type": "keyword"})
    back = await _patch(client, slug, 2, {"fields": integer_again})
    assert_problem(back, 409, "year")


async def test_removed_fields_with_values_need_explicit_drop(client: httpx.AsyncClient) -> None:
    dataset = await define(client)
    slug = dataset["slug"]
    scored = await post_record(client, slug, {"question": "q1", "score": 8.5, "contact": "a@b.cn"})
    plain = await post_record(client, slug, {"question": "q2"})
    without = {"fields": _fields(score=None, contact=None)}
    refused = await _patch(client, slug, 1, without)
    problem = assert_problem(refused, 409)
    assert {e["loc"][-1] for e in problem["errors"]} == {"score", "contact"}
    assert "drop_removed_fields=true" in problem["errors"][0]["msg"]
    head = await feed_head(client)
    dropped = await _patch(client, slug, 1, without, drop_removed_fields="true")
    assert dropped.status_code == 200 and dropped.headers["zhihui-migrated"] == "1"
    stored = (await read_record(client, slug, scored["id"], ADMIN)).json()
    assert "score" not in stored["values"] and "contact" not in stored["values"]
    assert stored["version"] == 2
    assert (await read_record(client, slug, plain["id"])).json()["version"] == 1
    assert [c["record_id"] for c in await changes_after(client, head)] == [
        dataset["id"],
        scored["id"],
    ]


async def test_changes_that_shape_documents_republish_records(client: httpx.AsyncClient) -> None:
    dataset = await define(client)
    slug = dataset["slug"]
    science = await post_record(client, slug, {"question": "q1", "kind": "science"})
    plain = await post_record(client, slug, {"question": "q2"})
    # relabelling an enum value republishes only the records that carry it
    relabelled = _fields(
        kind={"enum": [{"value": "science", "label": "基础科学问题"}, "engineering", "industry"]}
    )
    head = await feed_head(client)
    response = await _patch(client, slug, 1, {"fields": relabelled})
    assert response.headers["zhihui-migrated"] == "1"
    feed = await changes_after(client, head)
    assert [c["record_id"] for c in feed] == [dataset["id"], science["id"]]
    assert feed[1]["document"]["labels"] == {"kind": "基础科学问题"}
    # the visibility is in every document, so changing it republishes every record
    head = await feed_head(client)
    response = await _patch(client, slug, 2, {"visibility": "partner"})
    assert response.headers["zhihui-migrated"] == "2"
    feed = await changes_after(client, head)
    assert sorted(c["record_id"] for c in feed[1:]) == sorted([science["id"], plain["id"]])
    assert {c["document"]["visibility"] for c in feed} == {"partner"}


async def test_keyword_values_become_references_only_if_they_exist(
    client: httpx.AsyncClient, institutions: httpx.AsyncClient
) -> None:
    dataset = await define(client)
    slug = dataset["slug"]
    real = await institution(institutions, universities()[20][0])
    linked = await post_record(client, slug, {"question": "q", "field_code": real})
    as_ref = {
        "fields": _fields(
            field_code={"type": "ref:institutions", "filterable": True, "facetable": True}
        )
    }
    response = await _patch(client, slug, 1, as_ref)
    assert response.status_code == 200, response.text
    document = (await changes_after(client, (await feed_head(client)) - 1))[0]["document"]
    assert document["id"] == linked["id"] and document["refs"]["institutions"] == [real]
    # back to keyword is lossless; a keyword that names no institution cannot become a ref
    assert (await _patch(client, slug, 2, {"fields": _fields()})).status_code == 200
    await post_record(client, slug, {"question": "q", "field_code": "ins_00000000000000000000"})
    refused = await _patch(client, slug, 3, as_ref)
    problem = assert_problem(refused, 409, "field_code")
    assert "do not exist" in problem["errors"][0]["msg"]


async def test_deleting_a_dataset_tombstones_its_records(client: httpx.AsyncClient) -> None:
    dataset = await define(client)
    slug = dataset["slug"]
    records = [await post_record(client, slug, {"question": f"问题{i}"}) for i in range(4)]
    edited = await client.patch(
        f"/datasets/{slug}/records/{records[0]['id']}",
        json={"values": {"year": 2024}},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert edited.json()["version"] == 2
    gone = await client.delete(
        f"/datasets/{slug}/records/{records[1]['id']}", headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert gone.status_code == 204
    bystander = await define(client)
    kept = await post_record(client, bystander["slug"], {"question": "留下的问题"})
    head = await feed_head(client)
    response = await client.delete(f"/datasets/{slug}", headers={**ADMIN, "If-Match": '"v1"'})
    assert response.status_code == 204 and response.headers["zhihui-deleted-records"] == "3"
    feed = await changes_after(client, head)
    assert [(c["entity"], c["record_id"], c["op"], c["version"], c["document"]) for c in feed] == [
        *sorted(
            [
                ("dataset_record", records[0]["id"], "delete", 3, None),
                ("dataset_record", records[2]["id"], "delete", 2, None),
                ("dataset_record", records[3]["id"], "delete", 2, None),
            ]
        ),
        ("dataset", dataset["id"], "delete", 2, None),
    ]
    for record in records:
        assert_problem(await read_record(client, slug, record["id"]), 410)
    assert (await read_record(client, bystander["slug"], kept["id"])).status_code == 200


async def test_record_writes_never_slip_past_a_definition_change(
    client: httpx.AsyncClient,
) -> None:
    """A field becomes required while records without it are being written: afterwards every
    live record fits the definition in force (the change or the writes were refused)."""
    dataset = await define(client)
    slug = dataset["slug"]
    await post_record(client, slug, {"question": "q", "year": 2000})

    async def writer(n: int) -> list[int]:
        await asyncio.sleep(0.002 * n)
        statuses = []
        for i in range(6):
            response = await client.post(
                f"/datasets/{slug}/records",
                json={"values": {"question": f"并发{n}-{i}", **({"year": 2001} if i % 2 else {})}},
                headers=ADMIN,
            )
            statuses.append(response.status_code)
            await asyncio.sleep(0)
        return statuses

    async def change() -> int:
        response = await _patch(client, slug, 1, {"fields": _fields(year={"required": True})})
        return response.status_code

    *written, changed = await asyncio.gather(*(writer(n) for n in range(4)), change())
    assert changed in (200, 409)
    assert all(status in (201, 422) for statuses in written for status in statuses)
    definition = (await read_dataset(client, slug)).json()
    year_required = next(f for f in definition["fields"] if f["name"] == "year")["required"]
    assert year_required is (changed == 200)
    records = await _all_records(client, slug)
    if year_required:
        assert all(r["values"]["year"] is not None for r in records.values())
    else:
        assert any(r["values"]["year"] is None for r in records.values())
