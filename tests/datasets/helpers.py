"""Small helpers for dataset tests."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import httpx

from tests.actors import ADMIN
from tests.actors import SERVICE

__all__ = [
    "FRONTIER",
    "define",
    "institution",
    "post_record",
    "read_dataset",
    "read_record",
    "unique_slug",
]

_counter = itertools.count(1)

# A themed collection like the annual "重大科学问题和工程技术难题" lists: every field type.
FRONTIER: dict[str, Any] = {
    "name": "重大科学问题和工程技术难题",
    "name_en": "Major scientific questions and engineering challenges",
    "visibility": "public",
    "title_field": "question",
    "fields": [
        {"name": "question", "label": "问题", "type": "text", "required": True,
         "searchable": True},
        {"name": "year", "label": "发布年份", "type": "integer", "filterable": True,
         "facetable": True, "sortable": True},
        {"name": "kind", "label": "类别", "type": "keyword", "facetable": True,
         "enum": [{"value": "science", "label": "前沿科学问题"},
                  {"value": "engineering", "label": "工程技术难题"}, "industry"]},
        {"name": "field_code", "label": "学科代码", "type": "keyword", "filterable": True},
        {"name": "institutions", "label": "推荐单位", "type": "ref:institutions",
         "multiple": True, "facetable": True},
        {"name": "experts", "label": "推荐专家", "type": "ref:experts", "multiple": True},
        {"name": "published_on", "label": "发布日期", "type": "date", "sortable": True},
        {"name": "score", "label": "评分", "type": "number"},
        {"name": "selected", "label": "入选", "type": "boolean", "facetable": True},
        {"name": "contact", "label": "联系人邮箱", "type": "keyword", "restricted": True},
    ],
}  # fmt: skip


def unique_slug(base: str = "frontier") -> str:
    return f"{base}-{next(_counter):04d}"


async def define(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **overrides: Any
) -> dict[str, Any]:
    body = {**copy.deepcopy(FRONTIER), "slug": unique_slug(), **overrides}
    response = await client.post("/datasets", json=body, headers=headers or ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


async def post_record(
    client: httpx.AsyncClient,
    slug: str,
    values: dict[str, Any],
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    response = await client.post(
        f"/datasets/{slug}/records", json={"values": values, **fields}, headers=headers or ADMIN
    )
    assert response.status_code == 201, response.text
    return response.json()


async def read_dataset(
    client: httpx.AsyncClient, slug: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.get(f"/datasets/{slug}", headers=headers or SERVICE)


async def read_record(
    client: httpx.AsyncClient, slug: str, record_id: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.get(f"/datasets/{slug}/records/{record_id}", headers=headers or SERVICE)


async def institution(institutions: httpx.AsyncClient, name: str) -> str:
    """The ID of a new institution in the real institutions service."""
    response = await institutions.post(
        "/institutions", json={"name": name, "type": "university"}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
