"""Small helpers for expert tests."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from tests.actors import ADMIN
from tests.actors import SERVICE
from tests.data import universities

_counter = itertools.count(1)
_universities = itertools.cycle(universities())

# The ORCID documentation's example iD (Josiah Carberry); a valid ISO 7064 MOD 11-2 checksum.
CARBERRY_ORCID = "0000-0002-1825-0097"
# Another valid iD from the same documentation (its check character is X).
X_ORCID = "0000-0002-1694-233X"


def unique_name(base: str = "张") -> str:
    return f"{base}{next(_counter):05d}"


async def create_institution(institutions: httpx.AsyncClient) -> str:
    """A real university name (MoE list) as a new institution; its ID."""
    name, _province = next(_universities)
    response = await institutions.post(
        "/institutions",
        json={"name": f"{name}{next(_counter):05d}", "type": "university"},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def create(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"name": unique_name(), **fields}
    response = await client.post("/experts", json=body, headers=headers or ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


async def read(
    client: httpx.AsyncClient, ref: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.get(f"/experts/{ref}", headers=headers or SERVICE)
