"""Helpers and real data for outcome tests."""

from __future__ import annotations

import itertools
import json
from functools import cache
from typing import Any

import httpx

from tests.actors import ADMIN
from tests.actors import SERVICE
from tests.data import SHARED_DATA

__all__ = [
    "create",
    "csl_papers",
    "government_work_reports",
    "paper_body",
    "read",
]

_counter = itertools.count(1)


@cache
def csl_papers() -> list[dict[str, Any]]:
    """The 2 000 CSL papers (title, abstract, keywords, discipline), in file order."""
    path = SHARED_DATA / "csl-benchmark" / "csl_benchmark_2000.jsonl"
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@cache
def government_work_reports() -> list[dict[str, Any]]:
    """The 72 政府工作报告 texts (title, url, content, year)."""
    path = SHARED_DATA / "gov-work-reports" / "government_work_reports.jsonl"
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def paper_body(index: int | None = None, **fields: Any) -> dict[str, Any]:
    """A create body from a real CSL paper (a different one on each call by default)."""
    papers = csl_papers()
    paper = papers[(next(_counter) if index is None else index) % len(papers)]
    body = {
        "title": paper["title"],
        "abstract": paper["abstract"],
        "keywords": paper["keywords"],
        "type": "paper",
        "visibility": "public",
    }
    return {**body, **fields}


async def create(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    response = await client.post("/outcomes", json=paper_body(**fields), headers=headers or ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


async def read(
    client: httpx.AsyncClient, ref: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.get(f"/outcomes/{ref}", headers=headers or SERVICE)
