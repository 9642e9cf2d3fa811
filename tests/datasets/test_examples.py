"""The two example datasets, filled from the real data in ../shared/data, on both backends."""

from __future__ import annotations

import json
from collections import Counter
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from services.datasets import examples
from services.kernel.db import Database
from services.kernel.internal_auth import Actor
from services.kernel.internal_auth import Role
from services.kernel.ownership import UpsertResult
from tests.actors import ADMIN
from tests.actors import ANONYMOUS
from tests.data import SHARED_DATA
from tests.datasets.helpers import read_dataset
from tests.datasets.helpers import read_record
from tests.helpers import changes_after
from tests.helpers import feed_head
from tests.helpers import list_all

NSFC_FILE = SHARED_DATA / "nsfc-disciplines" / "nsfc_disciplines.jsonl"
GOV_FILE = SHARED_DATA / "gov-work-reports" / "government_work_reports.jsonl"
PLATFORM_ADMIN = Actor(role=Role.ADMIN, org="platform")


def _rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


async def _load(database: Database, slug: str, path: Path) -> Counter[UpsertResult]:
    """The bulk fill: service-layer upserts in one transaction."""
    async with database.sessionmaker() as session:
        counts = await examples.load(session, slug, path, actor=PLATFORM_ADMIN)
        await session.commit()
    return counts


async def _all_records(client: httpx.AsyncClient, slug: str) -> list[dict[str, Any]]:
    return await list_all(client, f"/datasets/{slug}/records")


async def test_nsfc_taxonomy_fills_all_codes_once(
    client: httpx.AsyncClient, datasets_db: Database
) -> None:
    source = _rows(NSFC_FILE)
    head = await feed_head(client)
    counts = await _load(datasets_db, "nsfc-disciplines", NSFC_FILE)
    assert counts == Counter({UpsertResult.CREATED: len(source)})
    dataset = (await read_dataset(client, "nsfc-disciplines", ANONYMOUS)).json()
    assert dataset["record_count"] == len(source) == 2916
    records = await _all_records(client, "nsfc-disciplines")
    assert Counter(r["values"]["level"] for r in records) == {1: 86, 2: 1013, 3: 1817}
    assert Counter(r["labels"]["level"] for r in records) == {
        "一级": 86,
        "二级": 1013,
        "三级": 1817,
    }
    assert {r["labels"]["division"] for r in records} == {
        "数理", "化学", "生命", "地球", "工程与材料", "信息", "管理", "医学"
    }  # fmt: skip
    # the tree survives: each code's children are exactly the source's children
    by_code = {r["values"]["code"]: r for r in records}
    children: dict[str, set[str]] = defaultdict(set)
    for record in records:
        if record["values"]["parent_code"]:
            children[record["values"]["parent_code"]].add(record["values"]["code"])
    for row in source:
        stored = by_code[row["_id"]]
        assert stored["title"] == stored["values"]["name"] == row["name"]
        assert stored["values"]["is_leaf"] is row["is_leaf"]
        assert children[row["_id"]] == set(row["children"]), row["_id"]
        assert stored["source"] == "nsfc-taxoext" and stored["external_id"] == row["_id"]
    feed = await changes_after(client, head)
    assert Counter((c["entity"], c["op"]) for c in feed) == {
        ("dataset", "upsert"): 1,
        ("dataset_record", "upsert"): 2916,
    }
    leaf = next(c["document"] for c in feed if c["document"].get("title") == "解析数论")
    assert leaf["values"]["code"] == "A010101" and leaf["values"]["parent_code"] == "A0101"
    assert leaf["labels"] == {"level": "三级", "division": "数理"}

    # Re-running the fill changes nothing: no new versions, no feed entries.
    head = await feed_head(client)
    again = await _load(datasets_db, "nsfc-disciplines", NSFC_FILE)
    assert again == Counter({UpsertResult.UNCHANGED: len(source)})
    assert await feed_head(client) == head
    assert {r["version"] for r in await _all_records(client, "nsfc-disciplines")} == {1}
    assert (await read_dataset(client, "nsfc-disciplines")).json()["version"] == 1


async def test_government_work_reports_are_stored_intact(
    client: httpx.AsyncClient, datasets_db: Database
) -> None:
    definition = examples.definition("gov-work-reports").model_dump(mode="json")
    created = await client.post("/datasets", json=definition, headers=ADMIN)
    assert created.status_code == 201, created.text
    source = {title: values for title, values in examples.gov_report_records(GOV_FILE)}
    raw = {row["title"]: row for row in _rows(GOV_FILE)}
    chosen = [
        "2025年中华人民共和国国务院政府工作报告",
        "1955年中华人民共和国国务院政府工作报告",  # the longest, about 57 000 characters
        "1964年中华人民共和国国务院政府工作报告（摘要）",
        "第十四届全国人民代表大会第三次会议关于政府工作报告的决议",
    ]
    ids = {}
    for title in chosen:
        response = await client.put(
            f"/datasets/gov-work-reports/records/sources/wikisource/{quote(title)}",
            json={"values": source[title]},
            headers=ADMIN,
        )
        assert response.status_code == 201, response.text
        ids[title] = response.json()["id"]

    report = (await read_record(client, "gov-work-reports", ids[chosen[1]], ANONYMOUS)).json()
    assert report["values"]["content"] == raw[chosen[1]]["content"]  # byte for byte
    assert len(report["values"]["content"]) > 50_000
    assert report["values"]["url"] == raw[chosen[1]]["url"]
    assert report["values"]["year"] == 1955 and report["title"] == chosen[1]
    assert report["labels"] == {"kind": "政府工作报告"} and report["external_id"] == chosen[1]
    resolution = (await read_record(client, "gov-work-reports", ids[chosen[3]])).json()
    assert resolution["values"]["year"] is None and resolution["values"]["kind"] == "resolution"
    assert resolution["values"]["content"] == raw[chosen[3]]["content"]

    # The loader over the whole corpus finds the records stored through the API unchanged.
    counts = await _load(datasets_db, "gov-work-reports", GOV_FILE)
    assert counts == Counter({UpsertResult.CREATED: 68, UpsertResult.UNCHANGED: 4})
    records = await _all_records(client, "gov-work-reports")
    assert Counter(r["values"]["kind"] for r in records) == {"report": 52, "resolution": 20}
    years = sorted(r["values"]["year"] for r in records if r["values"]["year"] is not None)
    assert years[0] == 1954 and years[-1] == 2025 and 2020 not in years
