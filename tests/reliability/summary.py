"""The reliability summary: what each category ran, what failed, what faults left behind.

Tests add figures to the session's `ReliabilityReport` (the `reliability` fixture); pytest's
own outcomes are counted per `@pytest.mark.reliability("<category>")`. At the end of the run
the table is printed and written to `.local/reliability/summary.json`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

SUMMARY_PATH = Path(__file__).resolve().parents[2] / ".local" / "reliability" / "summary.json"

# Printed in this order; categories not listed come after, alphabetically.
CATEGORIES = ("fuzz", "hostile", "access", "integrity", "faults", "load")


@dataclass
class Category:
    """One row of the table."""

    tests: dict[str, bool] = field(default_factory=dict)  # node id -> passed
    cases: int = 0
    case_failures: int = 0
    written: int = 0
    found: int = 0
    figures: dict[str, str] = field(default_factory=dict)

    @property
    def tests_failed(self) -> int:
        return sum(not passed for passed in self.tests.values())


class ReliabilityReport:
    """Figures collected during the run, by category."""

    def __init__(self) -> None:
        self.categories: dict[str, Category] = {}

    def _row(self, category: str) -> Category:
        return self.categories.setdefault(category, Category())

    def cases(self, category: str, ran: int, failures: int = 0) -> None:
        """`ran` generated or corpus cases were tried, `failures` of them broke a promise."""
        row = self._row(category)
        row.cases += ran
        row.case_failures += failures

    def records(self, category: str, written: int, found: int) -> None:
        """After a fault: acknowledged writes, and how many of them were found afterwards."""
        row = self._row(category)
        row.written += written
        row.found += found

    def figure(self, category: str, name: str, value: object) -> None:
        """A named measurement shown in the table (throughput, p95, memory growth…)."""
        self._row(category).figures[name] = str(value)

    def outcome(self, nodeid: str, category: str, passed: bool) -> None:
        """A test's phase ended; a test counts as failed if any of its phases failed."""
        tests = self._row(category).tests
        tests[nodeid] = tests.get(nodeid, True) and passed

    def ordered(self) -> list[tuple[str, Category]]:
        rank = {name: i for i, name in enumerate(CATEGORIES)}
        return sorted(self.categories.items(), key=lambda kv: (rank.get(kv[0], 99), kv[0]))

    def table(self) -> list[str]:
        header = ("category", "tests", "failed", "cases", "case fails", "written", "found")
        rows = [header]
        for name, row in self.ordered():
            rows.append(
                (
                    name,
                    str(len(row.tests)),
                    str(row.tests_failed),
                    str(row.cases),
                    str(row.case_failures),
                    str(row.written) if row.written else "-",
                    str(row.found) if row.written else "-",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        for name, row in self.ordered():
            for key, value in row.figures.items():
                lines.append(f"{name}: {key} = {value}")
        verdict = "OK" if self.ok() else "FAILED"
        lines.append(
            f"verdict: {verdict} (failures must be 0 and found must equal written in every row)"
        )
        return lines

    def ok(self) -> bool:
        return all(
            row.tests_failed == 0 and row.case_failures == 0 and row.found == row.written
            for row in self.categories.values()
        )

    def write(self, path: Path = SUMMARY_PATH) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {name: asdict(row) for name, row in self.ordered()}
        path.write_text(json.dumps(body, ensure_ascii=False, indent=2), encoding="utf-8")
