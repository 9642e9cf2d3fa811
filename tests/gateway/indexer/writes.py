"""A stream of real writes through the gateway: creates, patches and deletes."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from dataclasses import field

import httpx

LIBRARIES = ("institutions", "experts")


@dataclass
class Writer:
    gateway: httpx.AsyncClient
    admin: dict[str, str]
    tag: str
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    # record path → current version, per library
    live: dict[str, dict[str, int]] = field(default_factory=lambda: {lib: {} for lib in LIBRARIES})
    count: int = 0

    def _body(self, library: str) -> dict[str, object]:
        self.count += 1
        if library == "institutions":
            return {"name": f"索引测试{self.tag}机构{self.count}", "type": "research_institute"}
        return {"name": f"李{self.tag}{self.count}", "title": "研究员"}

    async def create(self, library: str) -> None:
        response = await self.gateway.post(
            f"/api/v1/{library}",
            json={**self._body(library), "owner_org": "cast"},
            headers=self.admin,
        )
        assert response.status_code == 201, response.text
        self.live[library][response.headers["location"]] = 1

    async def patch(self, library: str) -> None:
        path = self.rng.choice(sorted(self.live[library]))
        version = self.live[library][path]
        self.count += 1
        body = (
            {"acronyms": [f"T{self.count}"]}
            if library == "institutions"
            else {"title": f"研究员{self.count}"}
        )
        response = await self.gateway.patch(
            path, json=body, headers={**self.admin, "If-Match": f'"v{version}"'}
        )
        assert response.status_code == 200, response.text
        self.live[library][path] = version + 1

    async def delete(self, library: str) -> None:
        path = self.rng.choice(sorted(self.live[library]))
        version = self.live[library].pop(path)
        response = await self.gateway.delete(
            path, headers={**self.admin, "If-Match": f'"v{version}"'}
        )
        assert response.status_code == 204, response.text

    async def step(self) -> None:
        library = self.rng.choice(LIBRARIES)
        roll = self.rng.random()
        if len(self.live[library]) < 3 or roll < 0.4:
            await self.create(library)
        elif roll < 0.85:
            await self.patch(library)
        else:
            await self.delete(library)

    async def run(self, steps: int) -> None:
        for _ in range(steps):
            await self.step()


async def write_stream(
    gateway: httpx.AsyncClient, admin: dict[str, str], tag: str, steps: int, writers: int = 1
) -> None:
    """`steps` writes in all, by `writers` concurrent writers with their own records."""
    per_writer = [steps // writers + (1 if i < steps % writers else 0) for i in range(writers)]
    await asyncio.gather(
        *(
            Writer(gateway, admin, f"{tag}{i}", random.Random(i)).run(n)
            for i, n in enumerate(per_writer)
        )
    )
