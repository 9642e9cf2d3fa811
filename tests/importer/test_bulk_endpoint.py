"""`POST /api/v1/{library}/bulk` through the gateway: per-line results, limits, roles."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import orjson

from tests.datasets.helpers import FRONTIER
from tests.datasets.helpers import unique_slug
from tests.helpers import assert_problem
from tests.importer.conftest import StoredRecords

NDJSON = {"Content-Type": "application/x-ndjson"}


def ndjson(*lines: Any) -> bytes:
    return b"\n".join(x if isinstance(x, bytes) else orjson.dumps(x) for x in lines) + b"\n"


async def bulk(
    gateway: httpx.AsyncClient, path: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await gateway.post(f"/api/v1/{path}/bulk", content=body, headers={**headers, **NDJSON})


async def test_each_line_is_answered_and_a_bad_line_never_fails_the_good_ones(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    body = ndjson(
        {"source": "bulk-t1", "external_id": "1", "name": "中国科协创新战略研究院"},
        {"source": "bulk-t1", "external_id": "2", "name": "某研究院", "uscc": "12100000400000624E"},
        b"{not json",
        b"",
        {"source": "bulk-t1", "name": "没有编号"},
        [1, 2],
        {"source": "bulk-t1", "external_id": "3", "name": "学会甲", "type": "society"},
        {"source": "bulk-t1", "external_id": "4", "name": "某单位", "parent_id": "ins_missing"},
    )
    response = await bulk(gateway, "institutions", body, keys["admin"])
    assert response.status_code == 200, response.text
    answer = response.json()
    results = {r["line"]: r for r in answer["results"]}
    assert sorted(results) == [1, 2, 3, 5, 6, 7, 8]  # line 4 is blank: skipped, still counted
    assert results[1]["status"] == "created" and results[1]["id"].startswith("ins_")
    assert results[7]["status"] == "created"
    assert results[2]["status"] == "rejected" and results[2]["errors"][0]["loc"] == ["uscc"]
    assert results[3]["status"] == "rejected"
    assert results[3]["errors"][0]["type"] == "json_invalid"
    assert "not valid JSON" in results[3]["errors"][0]["msg"]
    assert results[5]["errors"] == [
        {"loc": ["external_id"], "msg": results[5]["errors"][0]["msg"], "type": "missing"}
    ]
    assert results[6]["status"] == "rejected"
    # a rule of the service (the parent must exist), in the line's own savepoint
    assert results[8]["status"] == "rejected" and results[8]["errors"][0]["loc"] == ["parent_id"]
    assert answer["summary"] == {
        "lines": 7, "created": 2, "updated": 0, "unchanged": 0, "rejected": 5
    }  # fmt: skip

    for line in (1, 7):
        record = await gateway.get(f"/api/v1/institutions/{results[line]['id']}")
        assert record.status_code == 200 and record.json()["source"] == "bulk-t1"

    again = await bulk(gateway, "institutions", body, keys["admin"])
    statuses = {r["line"]: r["status"] for r in again.json()["results"]}
    assert statuses[1] == statuses[7] == "unchanged"
    assert {r["id"] for r in again.json()["results"] if r["id"]} == {
        results[1]["id"],
        results[7]["id"],
    }
    changed = ndjson(
        {"source": "bulk-t1", "external_id": "1", "name": "中国科协创新战略研究院", "city": "北京"}
    )
    updated = (await bulk(gateway, "institutions", changed, keys["admin"])).json()
    assert updated["results"][0]["status"] == "updated"
    assert updated["results"][0]["id"] == results[1]["id"]


async def test_a_key_repeated_in_one_body_updates_the_record_it_created(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    body = ndjson(
        {"source": "bulk-t2", "external_id": "x", "name": "重复单位"},
        {"source": "bulk-t2", "external_id": "x", "name": "重复单位", "city": "上海"},
        {"source": "bulk-t2", "external_id": "x", "name": "重复单位", "established_year": 3000},
        {"source": "bulk-t2", "external_id": "x", "name": "重复单位", "city": "上海"},
    )
    answer = (await bulk(gateway, "institutions", body, keys["admin"])).json()
    assert [r["status"] for r in answer["results"]] == [
        "created", "updated", "rejected", "unchanged"
    ]  # fmt: skip
    assert len({r["id"] for r in answer["results"] if r["id"]}) == 1


async def test_over_the_line_limit_is_a_413_problem_and_nothing_is_written(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    lines = [{"source": "bulk-t3", "external_id": str(i), "name": f"单位{i}"} for i in range(1001)]
    problem = assert_problem(
        await bulk(gateway, "institutions", ndjson(*lines), keys["admin"]), 413
    )
    assert "1000" in problem["detail"] and problem["instance"] == "/api/v1/institutions/bulk"
    ok = await bulk(gateway, "institutions", ndjson(*lines[:1000]), keys["admin"])
    assert ok.status_code == 200 and ok.json()["summary"]["created"] == 1000
    assert_problem(await bulk(gateway, "institutions", b"\n\n", keys["admin"]), 400)
    wrong_type = await gateway.post(
        "/api/v1/institutions/bulk",
        content=ndjson(lines[0]),
        headers={**keys["admin"], "Content-Type": "text/csv"},
    )
    assert_problem(wrong_type, 415)


async def test_the_gateway_keeps_the_bulk_body_limit(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    # 1 000 lines of 2 KB each: over the 1 MiB of a single request, within the bulk limit
    lines = [
        {
            "source": "bulk-t6",
            "external_id": str(i),
            "name": f"大单位{i}",
            "description": "简介" * 1000,
        }
        for i in range(1000)
    ]
    body = ndjson(*lines)
    assert 1024 * 1024 < len(body) < 16 * 1024 * 1024
    ok = await bulk(gateway, "institutions", body, keys["admin"])
    assert ok.status_code == 200 and ok.json()["summary"]["created"] == 1000
    huge = ndjson({"source": "bulk-t6", "external_id": "x", "name": "x" * (17 * 1024 * 1024)})
    problem = assert_problem(await bulk(gateway, "institutions", huge, keys["admin"]), 413)
    assert str(16 * 1024 * 1024) in problem["detail"]


async def test_only_admins_may_bulk_write(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], stored: StoredRecords
) -> None:
    body = ndjson({"source": "bulk-t4", "external_id": "1", "name": "越权单位"})
    assert_problem(await bulk(gateway, "institutions", body, keys["anonymous"]), 401)
    for role in ("reader", "editor"):
        assert_problem(await bulk(gateway, "institutions", body, keys[role]), 403)
        assert_problem(await bulk(gateway, "outcomes", body, keys[role]), 403)
    assert await stored("institutions", "bulk-t4") == {}


async def test_experts_outcomes_and_dataset_records_in_bulk(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    admin = keys["admin"]
    institution = (
        await bulk(gateway, "institutions", ndjson({"source": "bulk-t5", "external_id": "i",
                                                     "name": "北京某大学"}), admin)
    ).json()["results"][0]["id"]  # fmt: skip
    experts = (
        await bulk(
            gateway,
            "experts",
            ndjson(
                {"source": "bulk-t5", "external_id": "e1", "name": "张三",
                 "affiliations": [{"institution_id": institution}]},
                {"source": "bulk-t5", "external_id": "e2", "name": "李四",
                 "affiliations": [{"institution_id": "ins_00000000000000000000"}]},
                {"source": "bulk-t5", "external_id": "e3", "name": "王五", "email": "not-an-email"},
            ),
            admin,
        )
    ).json()  # fmt: skip
    assert [r["status"] for r in experts["results"]] == ["created", "rejected", "rejected"]
    assert experts["results"][1]["errors"][0]["loc"] == ["affiliations", 0, "institution_id"]
    assert experts["results"][2]["errors"][0]["loc"] == ["email"]
    expert = experts["results"][0]["id"]

    outcomes = (
        await bulk(
            gateway,
            "outcomes",
            ndjson(
                {"source": "bulk-t5", "external_id": "o1", "title": "一份报告",
                 "authors": [{"expert_id": expert}, {"name": "赵六"}],
                 "institution_ids": [institution], "published_on": "2021-05"},
                {"source": "bulk-t5", "external_id": "o2", "title": "另一份",
                 "authors": [{"expert_id": "exp_00000000000000000000"}]},
                {"source": "bulk-t5", "external_id": "o3", "title": "第三份", "type": "论文"},
            ),
            admin,
        )
    ).json()  # fmt: skip
    assert [r["status"] for r in outcomes["results"]] == ["created", "rejected", "rejected"]
    assert outcomes["results"][1]["errors"][0]["loc"] == ["authors", 0, "expert_id"]

    definition = {**copy.deepcopy(FRONTIER), "slug": unique_slug("bulk")}
    created = await gateway.post("/api/v1/datasets", json=definition, headers=admin)
    assert created.status_code == 201, created.text
    records = (
        await bulk(
            gateway,
            f"datasets/{definition['slug']}/records",
            ndjson(
                {"source": "bulk-t5", "external_id": "d1",
                 "values": {"question": "问题一", "year": 2023, "institutions": [institution]}},
                {"source": "bulk-t5", "external_id": "d2", "values": {"year": "abc"}},
                {"source": "bulk-t5", "external_id": "d3",
                 "values": {"question": "问题三", "experts": ["exp_00000000000000000000"]}},
            ),
            admin,
        )
    ).json()  # fmt: skip
    assert [r["status"] for r in records["results"]] == ["created", "rejected", "rejected"]
    assert {tuple(e["loc"]) for e in records["results"][1]["errors"]} == {
        ("values", "year"), ("values", "question")
    }  # fmt: skip
    assert records["results"][2]["errors"][0]["loc"] == ["values", "experts", 0]
    unknown = await bulk(gateway, "datasets/no-such-set/records", ndjson({"source": "s",
                         "external_id": "1", "values": {}}), admin)  # fmt: skip
    assert_problem(unknown, 404)


async def test_refused_outcome_lines_among_good_ones_roll_back_alone(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], stored: StoredRecords
) -> None:
    # Outcomes go in one savepoint until a line is refused (kernel/bulk.py `together`); more
    # refusals than MAX_TOGETHER_FAILURES switch the rest to a savepoint each.
    missing_expert = {"authors": [{"expert_id": "exp_00000000000000000000"}]}
    lines = [
        {"source": "bulk-t9", "external_id": str(n), "title": f"报告{n}",
         **(missing_expert if n % 2 else {})}
        for n in range(8)
    ]  # fmt: skip
    answer = (await bulk(gateway, "outcomes", ndjson(*lines), keys["admin"])).json()
    statuses = [r["status"] for r in answer["results"]]
    assert statuses == ["created", "rejected"] * 4
    assert all(
        r["errors"][0]["loc"] == ["authors", 0, "expert_id"] for r in answer["results"][1::2]
    )
    records = await stored("outcomes", "bulk-t9")
    assert sorted(records) == ["0", "2", "4", "6"]
    assert {r.id for r in records.values()} == {r["id"] for r in answer["results"][::2]}
