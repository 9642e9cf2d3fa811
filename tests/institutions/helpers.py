"""Small helpers for institution tests."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from tests.actors import ADMIN, SERVICE

_counter = itertools.count(1)

# Real registry data: Tsinghua University's USCC and ROR ID; Peking University's ROR ID.
TSINGHUA_USCC = "12100000400000624D"
TSINGHUA_ROR = "03cve4549"
PKU_ROR = "02v51f717"


def unique_name(base: str = "测试研究院") -> str:
    return f"{base}{next(_counter):05d}"


async def create(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"name": unique_name(), "type": "research_institute", **fields}
    response = await client.post("/institutions", json=body, headers=headers or ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


async def read(client: httpx.AsyncClient, ref: str) -> httpx.Response:
    return await client.get(f"/institutions/{ref}", headers=SERVICE)


async def feed_head(client: httpx.AsyncClient) -> int:
    response = await client.get(
        "/internal/changes", params={"after": 0, "limit": 1}, headers=SERVICE
    )
    assert response.status_code == 200
    return int(response.json()["head"])


def assert_problem(
    response: httpx.Response, status: int, field: str | None = None
) -> dict[str, Any]:
    """A problem+json of `status`; if `field` is given, an error entry names it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"] and body["type"].startswith("/problems/")
    assert "Traceback" not in response.text and "SELECT" not in response.text
    if field is not None:
        locs = [".".join(str(p) for p in e["loc"]) for e in body.get("errors", [])]
        assert any(field in loc for loc in locs) or field in body["detail"], body
    return body
