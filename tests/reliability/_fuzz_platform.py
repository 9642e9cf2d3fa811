"""The platform the fuzz and hostile suites attack: the gateway in front of the real services on
PostgreSQL and Elasticsearch (the fixtures of tests/gateway/conftest.py), seeded with records,
and a snapshot of what is stored so a test can prove hostile input changed nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import httpx
import pytest

from services.gateway.indexer.feeds import read_feed
from services.kernel.http import ServiceClient
from tests.gateway.conftest import gateway
from tests.gateway.conftest import index_now
from tests.gateway.conftest import keys
from tests.gateway.conftest import make_key
from tests.gateway.conftest import platform
from tests.gateway.conftest import platform_clients
from tests.gateway.conftest import search

# The gateway's fixtures, re-exported for the reliability modules that import this one.
__all__ = [
    "ROLES",
    "Seeded",
    "backend",
    "gateway",
    "index_now",
    "keys",
    "make_key",
    "platform",
    "platform_clients",
    "search",
    "seeded",
]

ROLES = ("anonymous", "reader", "editor", "admin")
DATASET_SLUG = "fuzz-frontier"


@pytest.fixture(scope="module")
def backend() -> str:
    """These suites attack the production stack only: PostgreSQL and Elasticsearch."""
    return "postgresql"


@dataclass
class Seeded:
    """Records created before the attack; `paths` are their public single-record URLs."""

    ids: dict[str, str]
    paths: dict[str, str] = field(default_factory=dict)


async def _created(gateway: httpx.AsyncClient, admin: Mapping[str, str], path: str, body: dict):  # type: ignore[no-untyped-def]
    response = await gateway.post(path, json=body, headers=dict(admin))
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
async def seeded(gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], index_now) -> Seeded:  # type: ignore[no-untyped-def]
    """One record of every library (outcomes at each visibility), indexed."""
    admin = keys["admin"]
    institution = await _created(
        gateway,
        admin,
        "/api/v1/institutions",
        {"name": "模糊测试研究院", "type": "research_institute", "owner_org": "cast"},
    )
    expert = await _created(
        gateway,
        admin,
        "/api/v1/experts",
        {
            "name": "李模糊",
            "email": "li.fuzz@example.cn",
            "affiliations": [{"institution_id": institution["id"]}],
            "owner_org": "cast",
        },
    )
    outcomes = {
        level: await _created(
            gateway,
            admin,
            "/api/v1/outcomes",
            {
                "title": f"关于数字治理的政策建议（{level}）",
                "type": "policy_brief",
                "visibility": level,
                "authors": [{"expert_id": expert["id"]}],
                "owner_org": "cast",
            },
        )
        for level in ("public", "partner", "internal")
    }
    event = await _created(
        gateway,
        admin,
        "/api/v1/events",
        {
            "title": "数字治理研讨会",
            "kind": "seminar",
            "starts_on": "2024-03-01",
            "organiser_ids": [institution["id"]],
            "participants": [{"expert_id": expert["id"], "role": "speaker"}],
            "outcome_ids": [outcomes["public"]["id"]],
            "visibility": "partner",
            "owner_org": "cast",
        },
    )
    await _created(
        gateway,
        admin,
        "/api/v1/datasets",
        {
            "slug": DATASET_SLUG,
            "name": "前沿科学问题库",
            "visibility": "public",
            "owner_org": "cast",
            "title_field": "title",
            "fields": [
                {"name": "title", "label": "题名", "type": "text", "required": True},
                {"name": "year", "label": "年份", "type": "integer", "facetable": True},
            ],
        },
    )
    record = await _created(
        gateway,
        admin,
        f"/api/v1/datasets/{DATASET_SLUG}/records",
        {"values": {"title": "量子计算的前沿问题", "year": 2023}, "owner_org": "cast"},
    )
    await index_now()
    ids = {
        "institution": institution["id"],
        "expert": expert["id"],
        **{f"outcome_{level}": o["id"] for level, o in outcomes.items()},
        "event": event["id"],
        "dataset_record": record["id"],
    }
    paths = {
        "institution": f"/api/v1/institutions/{ids['institution']}",
        "expert": f"/api/v1/experts/{ids['expert']}",
        **{f"outcome_{lv}": f"/api/v1/outcomes/{ids[f'outcome_{lv}']}" for lv in outcomes},
        "event": f"/api/v1/events/{ids['event']}",
        "dataset": f"/api/v1/datasets/{DATASET_SLUG}",
        "dataset_record": f"/api/v1/datasets/{DATASET_SLUG}/records/{ids['dataset_record']}",
    }
    return Seeded(ids=ids, paths=paths)


async def feed_heads(clients: Mapping[str, ServiceClient]) -> dict[str, int]:
    """Each domain service's change-feed head: any committed write moves it."""
    return {name: (await read_feed(c, after=0, limit=1)).head for name, c in clients.items()}


@dataclass(frozen=True)
class StoredState:
    """What hostile input must not change: feed heads and every seeded record as read."""

    heads: dict[str, int]
    records: dict[str, Any]


async def stored_state(
    gateway: httpx.AsyncClient,
    admin: Mapping[str, str],
    clients: Mapping[str, ServiceClient],
    seeded: Seeded,
) -> StoredState:
    records: dict[str, Any] = {}
    for name, path in seeded.paths.items():
        response = await gateway.get(path, headers=dict(admin))
        assert response.status_code == 200, (name, response.text)
        records[name] = (response.headers.get("etag"), response.json())
    return StoredState(heads=await feed_heads(clients), records=records)
