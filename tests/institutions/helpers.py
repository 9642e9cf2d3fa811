"""Small helpers for institution tests."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from tests.actors import ADMIN
from tests.actors import SERVICE
from tests.helpers import assert_problem as assert_problem  # the gateway tests import it here

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
