"""Long full texts: real 政府工作报告 come back byte-identical; feed documents stay small."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import orjson

from services.outcomes.documents import FULL_TEXT_EXCERPT_CHARS
from services.outcomes.schemas import MAX_FULL_TEXT_CHARS
from tests.actors import ADMIN
from tests.actors import EDITOR_CAST
from tests.actors import SERVICE
from tests.helpers import assert_problem
from tests.helpers import changes_after
from tests.helpers import feed_head
from tests.outcomes.helpers import government_work_reports
from tests.outcomes.helpers import read

MIN_REPORT_CHARS = 30_000


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _long_reports() -> list[dict[str, Any]]:
    reports = [r for r in government_work_reports() if len(r["content"]) >= MIN_REPORT_CHARS]
    assert len(reports) >= 5, "the data set holds several reports of 30 000+ characters"
    return reports


def _report_body(report: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "title": report["title"],
        "type": "research_report",
        "full_text": report["content"],
        "published_on": report["year"],
        "url": report["url"],
        "visibility": "public",
        "owner_org": "platform",
        **fields,
    }


async def test_every_report_of_30000_characters_comes_back_byte_identical(
    client: httpx.AsyncClient,
) -> None:
    for report in _long_reports():
        text = report["content"]
        created = await client.post("/outcomes", json=_report_body(report), headers=ADMIN)
        assert created.status_code == 201, created.text[:300]
        record = created.json()
        assert record["full_text_length"] == len(text)
        stored = (await read(client, record["id"])).json()
        assert _sha256(stored["full_text"]) == _sha256(text), report["title"]
        assert stored["published_on"] == report["year"]


async def test_full_text_survives_other_edits_and_upserts_intact(
    client: httpx.AsyncClient,
) -> None:
    report = max(_long_reports(), key=lambda r: len(r["content"]))
    url = f"/outcomes/sources/wikisource/{report['year']}"
    first = await client.put(url, json=_report_body(report), headers=ADMIN)
    assert first.status_code == 201
    patched = await client.patch(
        f"/outcomes/{first.json()['id']}",
        json={"keywords": ["第一个五年计划", "国民经济"]},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert patched.status_code == 200 and patched.json()["version"] == 2
    again = await client.put(
        url, json=_report_body(report, keywords=["第一个五年计划", "国民经济"]), headers=ADMIN
    )
    assert again.headers["zhihui-upsert"] == "unchanged"
    assert _sha256(again.json()["full_text"]) == _sha256(report["content"])


async def test_text_is_stored_exactly_as_sent_including_edges(client: httpx.AsyncClient) -> None:
    report = _long_reports()[0]
    text = "\n  " + report["content"][:5_000] + "\r\n\t\n"
    created = await client.post(
        "/outcomes", json=_report_body(report, full_text=text), headers=ADMIN
    )
    assert created.status_code == 201
    stored = (await read(client, created.json()["id"])).json()["full_text"]
    assert stored == text and _sha256(stored) == _sha256(text)


async def test_feed_carries_a_bounded_excerpt_never_the_body(client: httpx.AsyncClient) -> None:
    report = _long_reports()[1]
    head = await feed_head(client)
    created = await client.post("/outcomes", json=_report_body(report), headers=ADMIN)
    assert created.status_code == 201
    (change,) = await changes_after(client, head)
    document = change["document"]
    assert "full_text" not in document
    assert document["full_text_excerpt"] == report["content"][:FULL_TEXT_EXCERPT_CHARS]
    assert document["full_text_length"] == len(report["content"])
    assert len(orjson.dumps(document)) < 4 * FULL_TEXT_EXCERPT_CHARS + 4_096


async def test_lists_leave_the_full_text_out(client: httpx.AsyncClient) -> None:
    report = _long_reports()[2]
    created = (await client.post("/outcomes", json=_report_body(report), headers=ADMIN)).json()
    page = await client.get("/outcomes", params={"ids": created["id"]}, headers=SERVICE)
    (item,) = page.json()["results"]
    assert "full_text" not in item and item["full_text_length"] == len(report["content"])
    assert item["title"] == report["title"]


async def test_two_million_characters_fit_and_one_more_is_422(client: httpx.AsyncClient) -> None:
    corpus = "\n\n".join(r["content"] for r in government_work_reports())
    text = (corpus * (MAX_FULL_TEXT_CHARS // len(corpus) + 1))[:MAX_FULL_TEXT_CHARS]
    body = orjson.dumps(
        _report_body(_long_reports()[0], full_text=text, published_on=None, owner_org="cast")
    )
    assert len(body) > 1_048_576  # beyond the kernel default: this service's own limit applies
    created = await client.post(
        "/outcomes", content=body, headers={**EDITOR_CAST, "content-type": "application/json"}
    )
    assert created.status_code == 201, created.text[:300]
    stored = (await read(client, created.json()["id"])).json()
    assert stored["full_text_length"] == MAX_FULL_TEXT_CHARS
    assert _sha256(stored["full_text"]) == _sha256(text)
    head = await feed_head(client)
    too_long = await client.post(
        "/outcomes",
        json=_report_body(_long_reports()[0], full_text=text + "。"),
        headers=ADMIN,
    )
    assert_problem(too_long, 422, "full_text")
    assert await feed_head(client) == head


async def test_body_over_the_limit_is_413_and_bad_text_is_422(client: httpx.AsyncClient) -> None:
    head = await feed_head(client)
    report = _long_reports()[0]
    huge = await client.post(
        "/outcomes", json=_report_body(report, full_text="报" * 3_000_000), headers=ADMIN
    )
    assert "bytes" in assert_problem(huge, 413)["detail"]
    control = await client.post(
        "/outcomes",
        json=_report_body(report, full_text=report["content"][:100] + "\x00"),
        headers=ADMIN,
    )
    assert_problem(control, 422, "full_text")
    assert await feed_head(client) == head
