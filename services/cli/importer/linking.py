"""Institutions given as names, linked to IDs through `GET /api/v1/institutions/match`.

A name is linked only when the match API marks a candidate `chosen` (one is clearly right);
otherwise the name is kept as text where the record has room for it and listed in the report.
Each distinct name is asked once per run. Asking is a round trip through the gateway and the
search index, so the runner `prefetch`es the names of a whole batch with a few requests in
flight at once before linking its rows one by one from the cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from services.kernel.record_ids import is_id

Match = Callable[[str], Awaitable[list[dict[str, Any]]]]

# Match requests in flight at once: enough to hide the round trip, few enough that the
# gateway's bulk writes and indexer keep the CPU.
DEFAULT_MATCH_CONCURRENCY = 8


@dataclass
class Linker:
    match: Match
    cache: dict[str, str | None] = field(default_factory=dict)
    # name → the rows (file, row number) where it stayed unmatched
    unmatched: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    linked: int = 0
    concurrency: int = DEFAULT_MATCH_CONCURRENCY

    async def resolve(self, name: str) -> str | None:
        """The institution ID for a name (an `ins_…` ID is taken as is); None if not chosen."""
        name = name.strip()
        if is_id(name, "ins"):
            return name
        if name not in self.cache:
            self.cache[name] = await self._ask(name)
        return self.cache[name]

    async def prefetch(self, names: Iterable[str]) -> None:
        """Resolve every name not cached yet, `concurrency` requests at a time, into the cache."""
        uncached = {n.strip() for n in names} - self.cache.keys()
        wanted = sorted(n for n in uncached if n and not is_id(n, "ins"))
        if not wanted:
            return
        limit = asyncio.Semaphore(self.concurrency)

        async def ask(name: str) -> None:
            async with limit:
                self.cache[name] = await self._ask(name)

        tasks = [asyncio.ensure_future(ask(name)) for name in wanted]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            # One failure (the gateway gone) ends the batch: stop asking for the others.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def link(self, name: str, where: tuple[str, int]) -> str | None:
        found = await self.resolve(name)
        if found is None:
            self.unmatched.setdefault(name, []).append(where)
        else:
            self.linked += 1
        return found

    async def _ask(self, name: str) -> str | None:
        candidates = await self.match(name[:500])
        chosen = [c for c in candidates if c.get("chosen")]
        return str(chosen[0]["id"]) if chosen else None
