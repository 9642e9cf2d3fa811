"""`zhihui up --sample-data`: a small real sample loaded through the gateway, idempotently."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from services.gateway.keys.schemas import KeyCreate
from services.gateway.keys.schemas import KeyRole
from services.gateway.keys.service import ApiKeyService
from services.kernel.db import Database

SAMPLE_DIR = Path(__file__).parent / "sample_data"
SOURCE = "zhihui-sample"  # upserts keyed by (source, external_id): re-loading changes nothing


def _rows(name: str) -> Iterator[dict[str, Any]]:
    with (SAMPLE_DIR / f"{name}.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


async def create_loader_key(database: Database) -> tuple[str, str]:
    """A short-lived admin key for the loader (revoked when it is done)."""
    async with database.sessionmaker() as session:
        service = ApiKeyService(session)
        key, secret = await service.create(
            KeyCreate(name="sample-data loader", role=KeyRole.ADMIN),
            default_rate_limit=100_000,
            created_by="zhihui up",
        )
        await session.commit()
    return key.id, secret


async def revoke_key(database: Database, key_id: str) -> None:
    async with database.sessionmaker() as session:
        await ApiKeyService(session).revoke(key_id)
        await session.commit()


async def _upsert(http: httpx.AsyncClient, library: str, row: dict[str, Any]) -> dict[str, Any]:
    external_id = row.pop("external_id")
    response = await http.put(f"/api/v1/{library}/sources/{SOURCE}/{external_id}", json=row)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"loading {library}/{external_id} failed: {response.text[:300]}")
    return dict(response.json())


async def load_sample_data(gateway_url: str, secret: str) -> dict[str, int]:
    """Institutions, then experts affiliated with them, then outcomes, then events organised
    by the institutions with the experts speaking; counts per library."""
    counts: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=gateway_url, headers=headers, timeout=30) as http:
        institution_ids: dict[str, str] = {}
        for row in _rows("institutions"):
            external_id = row["external_id"]
            institution_ids[external_id] = (await _upsert(http, "institutions", row))["id"]
        counts["institutions"] = len(institution_ids)
        expert_ids: dict[str, str] = {}
        for row in _rows("experts"):
            external_id = row["external_id"]
            institution = institution_ids[row.pop("institution_external_id")]
            row["affiliations"] = [{"institution_id": institution, "primary": True}]
            expert_ids[external_id] = (await _upsert(http, "experts", row))["id"]
        counts["experts"] = len(expert_ids)
        counts["outcomes"] = sum(
            [1 for row in _rows("outcomes") if await _upsert(http, "outcomes", row)]
        )
        events = 0
        for row in _rows("events"):
            for role in ("organiser", "co_organiser"):
                named = row.pop(f"{role}_external_ids", [])
                row[f"{role}_ids"] = [institution_ids[x] for x in named]
            row["participants"] = [
                {"expert_id": expert_ids[p["expert_external_id"]], "role": p["role"]}
                for p in row["participants"]
            ]
            await _upsert(http, "events", row)
            events += 1
        counts["events"] = events
    return counts
