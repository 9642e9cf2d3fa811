"""The linker's prefetch: each name asked once, a bounded number at a time, failures stop it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.cli.importer.linking import Linker
from services.kernel.record_ids import new_id


class CountingMatch:
    """A match API stand-in that records how many calls overlap."""

    def __init__(self, chosen: set[str], fail_on: str | None = None) -> None:
        self.chosen = chosen
        self.fail_on = fail_on
        self.asked: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, name: str) -> list[dict[str, Any]]:
        self.asked.append(name)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            if name == self.fail_on:
                raise ConnectionError("gateway gone")
            return [{"id": f"ins_{name}", "chosen": name in self.chosen}]
        finally:
            self.in_flight -= 1


async def test_prefetch_asks_each_new_name_once_with_bounded_concurrency() -> None:
    names = [f"大学{n}" for n in range(30)]
    match = CountingMatch(chosen=set(names[:20]))
    linker = Linker(match, concurrency=4)
    await linker.prefetch([*names, *names, " 大学1 ", new_id("ins"), ""])
    assert sorted(match.asked) == sorted(names)
    assert match.most_in_flight == 4
    # Linking afterwards is answered from the cache: nothing more is asked.
    assert await linker.link("大学1", ("f", 2)) == "ins_大学1"
    assert await linker.link("大学25", ("f", 3)) is None
    await linker.prefetch(names)
    assert len(match.asked) == 30
    assert linker.linked == 1 and linker.unmatched == {"大学25": [("f", 3)]}


async def test_a_failed_lookup_stops_the_prefetch_and_caches_nothing_wrong() -> None:
    match = CountingMatch(chosen={"甲"}, fail_on="乙")
    linker = Linker(match, concurrency=2)
    with pytest.raises(ConnectionError):
        await linker.prefetch(["甲", "乙", "丙", "丁", "戊"])
    assert "乙" not in linker.cache
    assert all(linker.cache[name] is None for name in linker.cache if name != "甲")
