"""The benchmark data generator: deterministic, at the promised volume, importable as written."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bench.generate import generate
from bench.generate import institution_names
from bench.generate import recombine_title
from services.cli.importer.mapping import convert
from services.cli.importer.mapping import map_columns
from services.cli.importer.profiles import PROFILES
from services.cli.importer.readers import read_table

SMALL = {"expert_count": 300, "outcome_count": 500}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    generate(out, seed=7, **SMALL)
    return out


def test_same_seed_writes_identical_files(generated: Path, tmp_path: Path) -> None:
    generate(tmp_path, seed=7, **SMALL)
    for name in ("institutions.csv", "experts.csv", "outcomes.jsonl"):
        assert (tmp_path / name).read_bytes() == (generated / name).read_bytes(), name


def test_another_seed_writes_other_records(generated: Path, tmp_path: Path) -> None:
    generate(tmp_path, seed=8, **SMALL)
    assert (tmp_path / "outcomes.jsonl").read_bytes() != (generated / "outcomes.jsonl").read_bytes()


def test_at_least_3000_distinct_institutions() -> None:
    names = [name for name, _kind, _province in institution_names()]
    assert len(names) >= 3000
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    ("library", "file"),
    [("institutions", "institutions.csv"), ("experts", "experts.csv"),
     ("outcomes", "outcomes.jsonl")],
)  # fmt: skip
def test_every_column_maps_and_every_row_converts(generated: Path, library: str, file: str) -> None:
    table = read_table(generated / file)
    profile = PROFILES[library]
    columns = map_columns(table.headers, profile)
    assert columns.unmapped == [] and columns.has_id_column
    ids = set()
    for row in table.rows:
        fields = convert(row.cells, columns, profile).fields
        assert all(rule.name in fields for rule in profile.rules if rule.required), row.number
        ids.add(fields["external_id"])
    assert len(ids) == len(table.rows)


def test_experts_work_at_generated_institutions(generated: Path) -> None:
    with (generated / "institutions.csv").open(encoding="utf-8-sig") as handle:
        institutions = {row["单位名称"] for row in csv.DictReader(handle)}
    with (generated / "experts.csv").open(encoding="utf-8-sig") as handle:
        employers = [row["工作单位"] for row in csv.DictReader(handle)]
    assert len(employers) == SMALL["expert_count"]
    assert set(employers) <= institutions


def test_titles_recombine_at_de() -> None:
    assert recombine_title("基于深度学习的图像识别方法", "面向农村地区的医疗资源配置研究") == (
        "基于深度学习的医疗资源配置研究"
    )
    assert recombine_title("城市化进程研究", "某某的某某某某") == "城市化进程研究"
