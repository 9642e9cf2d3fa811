"""Real data through `zhihui import`: the 2 000 CSL papers and the 2 820 universities.

Prints records/s for each (`-s` shows it); `bench/import_throughput.py` measures the same
against real `zhihui serve` processes.
"""

from __future__ import annotations

import csv
from pathlib import Path

from services.cli.importer.runner import EXIT_OK
from tests.data import SHARED_DATA
from tests.data import universities
from tests.importer.conftest import Importer
from tests.importer.conftest import StoredRecords

CSL = SHARED_DATA / "csl-benchmark" / "csl_benchmark_2000.jsonl"


def universities_csv(folder: Path) -> Path:
    """The Ministry of Education list as an admin would have it: one row per university."""
    path = folder / "全国高等学校名单.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["单位名称", "机构类型", "省份"])
        writer.writerows([name, "高校", province] for name, province in universities())
    return path


async def test_the_csl_papers_and_the_universities_import_with_their_throughput(
    run: Importer, stored: StoredRecords, tmp_path: Path, backend: str
) -> None:
    universities = universities_csv(tmp_path)
    report = await run("institutions", universities, source="moe-2021", batch_size=1000)
    assert report.exit_code == EXIT_OK, report.render()
    assert report.counts == {"created": 2820, "rejected": 0}
    print(f"\n[{backend}] 2 820 universities: {report.render().splitlines()[-1]}")
    institutions = await stored("institutions", "moe-2021")
    assert len(institutions) == 2820
    assert {r.name for r in institutions.values()} >= {"清华大学", "华北电力大学(北京)"}

    report = await run("outcomes", CSL, source="csl", batch_size=1000)
    assert report.exit_code == EXIT_OK, report.render()
    assert report.counts == {"created": 2000, "rejected": 0}
    assert report.files[0].unmapped == ["split", "category", "discipline"]
    print(f"[{backend}] 2 000 CSL papers: {report.render().splitlines()[-1]}")
    outcomes = await stored("outcomes", "csl")
    assert len(outcomes) == 2000 and outcomes["csl-dev-0000"].keywords[0] == "修正Rodrigues参数模型"

    again = await run("outcomes", CSL, source="csl", batch_size=1000)
    assert again.counts == {"unchanged": 2000, "rejected": 0}
    print(f"[{backend}] re-run, all unchanged: {again.render().splitlines()[-1]}")
