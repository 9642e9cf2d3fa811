"""Write streams for fault tests, and the ledger of what the platform acknowledged.

Only an acknowledged write (2xx) enters the ledger; after a fault the platform must hold
exactly the ledger's state: every live record at its latest acknowledged version, no record
that was deleted, nothing else.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import httpx

LIBRARIES = ("institutions", "outcomes")


def record_body(library: str, tag: str, n: int) -> dict[str, Any]:
    """A small valid record of `library`, unique by (tag, n)."""
    if library == "institutions":
        return {"name": f"容错测试研究院{tag}第{n}所", "type": "think_tank", "owner_org": "cast"}
    return {
        "title": f"关于故障恢复的政策建议（{tag} 第{n}号）",
        "type": "policy_brief",
        "keywords": ["故障恢复", f"faults{tag}"],
        "visibility": "public",
        "owner_org": "cast",
    }


def patch_body(library: str, n: int) -> dict[str, Any]:
    if library == "institutions":
        return {"description": f"第{n}次修订的机构简介"}
    return {"abstract": f"第{n}次修订的摘要"}


@dataclass
class Ledger:
    """What the platform acknowledged, per library: live id → version, and deleted ids."""

    live: dict[str, dict[str, int]] = field(
        default_factory=lambda: {library: {} for library in LIBRARIES}
    )
    deleted: dict[str, set[str]] = field(
        default_factory=lambda: {library: set() for library in LIBRARIES}
    )
    ops: Counter[str] = field(default_factory=Counter)

    @property
    def acknowledged(self) -> int:
        return sum(self.ops.values())

    @property
    def live_count(self) -> int:
        return sum(len(records) for records in self.live.values())


@dataclass
class MixedWriter:
    """Creates, patches (If-Match) and deletes through the gateway; every write must succeed
    (the faults these streams run through never concern the services' own storage)."""

    http: httpx.AsyncClient
    headers: dict[str, str]
    ledger: Ledger
    tag: str
    on_write: Callable[[], None] = lambda: None
    serial: int = 0

    def _acknowledged(self, op: str) -> None:
        self.ledger.ops[op] += 1
        self.on_write()

    async def create(self, library: str) -> str:
        self.serial += 1
        response = await self.http.post(
            f"/api/v1/{library}",
            json=record_body(library, self.tag, self.serial),
            headers=self.headers,
        )
        assert response.status_code == 201, f"create {library}: {response.text[:500]}"
        record = response.json()
        self.ledger.live[library][record["id"]] = record["version"]
        self._acknowledged("create")
        return str(record["id"])

    async def patch(self, library: str, record_id: str) -> None:
        self.serial += 1
        version = self.ledger.live[library][record_id]
        response = await self.http.patch(
            f"/api/v1/{library}/{record_id}",
            json=patch_body(library, self.serial),
            headers={**self.headers, "If-Match": f'"v{version}"'},
        )
        assert response.status_code == 200, f"patch {record_id}: {response.text[:500]}"
        assert response.headers["etag"] == f'"v{response.json()["version"]}"'
        self.ledger.live[library][record_id] = response.json()["version"]
        self._acknowledged("patch")

    async def delete(self, library: str, record_id: str) -> None:
        version = self.ledger.live[library][record_id]
        response = await self.http.delete(
            f"/api/v1/{library}/{record_id}",
            headers={**self.headers, "If-Match": f'"v{version}"'},
        )
        assert response.status_code == 204, f"delete {record_id}: {response.text[:500]}"
        del self.ledger.live[library][record_id]
        self.ledger.deleted[library].add(record_id)
        self._acknowledged("delete")

    async def run(self, steps: int, rng: random.Random) -> None:
        """`steps` writes: 60 % creates, 28 % patches, 12 % deletes of this writer's records."""
        mine: dict[str, list[str]] = {library: [] for library in LIBRARIES}
        for _ in range(steps):
            library = rng.choice(LIBRARIES)
            roll = rng.random()
            if len(mine[library]) < 3 or roll < 0.6:
                mine[library].append(await self.create(library))
            elif roll < 0.88:
                await self.patch(library, rng.choice(mine[library]))
            else:
                victim = mine[library].pop(rng.randrange(len(mine[library])))
                await self.delete(library, victim)
