"""Real data from ../shared/data (see each folder's SOURCE.md) for tests."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@cache
def universities() -> list[tuple[str, str]]:
    """(name, province) of the 2 820 mainland universities, in file order."""
    path = SHARED_DATA / "cn-universities" / "china_mainland_universities.json"
    by_province = json.loads(path.read_text(encoding="utf-8"))
    return [(name, province) for province, group in by_province.items() for name in group["all"]]
