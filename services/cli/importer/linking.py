"""Institutions given as names, linked to IDs through `GET /api/v1/institutions/match`.

A name is linked only when the match API marks a candidate `chosen` (one is clearly right);
otherwise the name is kept as text where the record has room for it and listed in the report.
Each distinct name is asked once per run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from services.kernel.ids import is_id

Match = Callable[[str], Awaitable[list[dict[str, Any]]]]


@dataclass
class Linker:
    match: Match
    cache: dict[str, str | None] = field(default_factory=dict)
    # name → the rows (file, row number) where it stayed unmatched
    unmatched: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    linked: int = 0

    async def resolve(self, name: str) -> str | None:
        """The institution ID for a name (an `ins_…` ID is taken as is); None if not chosen."""
        name = name.strip()
        if is_id(name, "ins"):
            return name
        if name not in self.cache:
            candidates = await self.match(name[:500])
            chosen = [c for c in candidates if c.get("chosen")]
            self.cache[name] = str(chosen[0]["id"]) if chosen else None
        return self.cache[name]

    async def link(self, name: str, where: tuple[str, int]) -> str | None:
        found = await self.resolve(name)
        if found is None:
            self.unmatched.setdefault(name, []).append(where)
        else:
            self.linked += 1
        return found
