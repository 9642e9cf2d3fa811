"""Names linked to institutions through the match API; XLSX, JSON and JSONL files; datasets."""

from __future__ import annotations

import copy
import csv
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from openpyxl import Workbook

from services.cli.importer.runner import EXIT_OK
from services.cli.importer.runner import EXIT_REJECTS
from services.cli.importer.runner import UsageError
from tests.datasets.helpers import FRONTIER
from tests.importer.conftest import Importer
from tests.importer.conftest import StoredRecords

INSTITUTIONS = """单位名称,机构类型,省份
清华大学,高校,北京
北京大学,高校,北京
华北电力大学,高校,北京
华北电力大学(北京),高校,北京
北京师范大学,高校,北京
华东师范大学,高校,上海
"""

EXPERTS = """姓名,职称,工作单位,院系,研究方向,邮箱,电话
张三,教授,清华大学,计算机科学与技术系,人工智能；机器学习,zhangsan@tsinghua.edu.cn,010-6278 1234
李四,研究员,北京大学医学部,,公共卫生,,
王五,副教授,某某战略研究所,战略室,科技政策,,
赵六,讲师,华北电力大学(北京),,电力系统,,
钱七,,师范大学,,,,
孙八,,,,科学传播,sunba@@example,
"""


def rejects_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))


async def test_expert_affiliations_are_linked_when_the_match_is_chosen(
    run: Importer, stored: StoredRecords, index_now: Any, tmp_path: Path
) -> None:
    institutions = tmp_path / "机构.csv"
    institutions.write_text(INSTITUTIONS, encoding="utf-8")
    assert (await run("institutions", institutions, source="link")).exit_code == EXIT_OK
    await index_now()
    ids = {r.name: r.id for r in (await stored("institutions", "link")).values()}

    experts = tmp_path / "专家.csv"
    experts.write_text(EXPERTS, encoding="utf-8")
    report = await run("experts", experts, source="link")
    assert report.exit_code == EXIT_REJECTS, report.render()
    assert report.counts == {"created": 5, "rejected": 1}
    records = {r.name: r for r in (await stored("experts", "link")).values()}
    assert records["张三"].affiliations == [
        {"institution_id": ids["清华大学"], "department": "计算机科学与技术系", "position": None,
         "primary": True, "start_year": None, "end_year": None}
    ]  # fmt: skip
    assert records["张三"].research_areas == ["人工智能", "机器学习"]
    assert records["李四"].affiliations[0]["institution_id"] == ids["北京大学"]
    assert records["赵六"].affiliations[0]["institution_id"] == ids["华北电力大学(北京)"]
    # unmatched: kept as text in the biography, and listed in the report
    assert (
        records["王五"].affiliations == []
        and records["王五"].bio == "工作单位：某某战略研究所，战略室"
    )
    assert records["钱七"].bio == "工作单位：师范大学"
    assert set(report.unmatched) == {"某某战略研究所", "师范大学"}
    assert report.linked == 3
    rendered = report.render()
    assert "institution names not matched (kept as text): 2" in rendered
    assert "某某战略研究所 (rows 4)" in rendered
    (entry,) = rejects_of(report.rejects_path)  # type: ignore[arg-type]
    assert (entry["行号"], entry["字段"], entry["值"]) == ("7", "邮箱", "sunba@@example")

    again = await run("experts", experts, source="link")
    assert again.counts == {"unchanged": 5, "rejected": 1}

    outcomes = tmp_path / "成果.csv"
    outcomes.write_text(
        "题名,作者,完成单位,年份\n"
        "高等教育强国建设研究,张三；李四,清华大学；北京大学,2023\n"
        "电力系统韧性报告,赵六,华北电力大学(北京)；某某战略研究所,2022\n",
        encoding="utf-8",
    )
    report = await run("outcomes", outcomes, source="link")
    assert report.exit_code == EXIT_OK, report.render()
    by_title = {r.title: r for r in (await stored("outcomes", "link")).values()}
    first, second = by_title["高等教育强国建设研究"], by_title["电力系统韧性报告"]
    assert first.institution_ids == [ids["清华大学"], ids["北京大学"]]
    assert [a["name"] for a in first.authors] == ["张三", "李四"]
    assert second.institution_ids == [ids["华北电力大学(北京)"]]
    assert second.authors[0]["affiliation"] == "华北电力大学(北京)；某某战略研究所"
    assert first.published_precision == "year"


async def test_xlsx_json_and_jsonl_files(
    run: Importer, stored: StoredRecords, tmp_path: Path
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["编号", "题名", "发表日期", "类型", "关键词"])
    sheet.append([1, "基于深度学习的图像识别", datetime(2021, 3, 5), "论文", "深度学习;图像识别"])
    sheet.append([None, None, None, None, None])
    sheet.append([2, "科技评价改革建议", 44927, "政策建议", None])
    sheet.append([3, "无效日期的报告", "明年", "研究报告", None])
    xlsx = tmp_path / "成果.xlsx"
    workbook.save(xlsx)
    report = await run("outcomes", xlsx, source="formats-x")
    assert report.counts == {"created": 2, "rejected": 1}, report.render()
    records = await stored("outcomes", "formats-x")
    assert records["1"].published_on.isoformat() == "2021-03-05"
    assert records["2"].published_on.isoformat() == "2023-01-01"
    assert records["1"].keywords == ["深度学习", "图像识别"] and records["1"].type == "paper"
    (entry,) = rejects_of(report.rejects_path)  # type: ignore[arg-type]
    assert (entry["行号"], entry["字段"], entry["值"]) == ("5", "发表日期", "明年")

    papers = [
        {"id": "p1", "title": "论文一", "keywords": ["甲", "乙"], "published_on": 2020},
        {"id": "p2", "title": "论文二", "authors": [{"name": "作者甲", "affiliation": "某大学"}]},
        {"id": "p3", "title": "论文三", "language": "klingon"},
    ]
    as_json = tmp_path / "papers.json"
    as_json.write_bytes(orjson.dumps(papers))
    report = await run("outcomes", as_json, source="formats-j")
    assert report.counts == {"created": 2, "rejected": 1}
    records = await stored("outcomes", "formats-j")
    assert records["p1"].keywords == ["甲", "乙"] and records["p1"].published_precision == "year"
    assert records["p2"].authors[0]["affiliation"] == "某大学"
    (entry,) = rejects_of(report.rejects_path)  # type: ignore[arg-type]
    # English headers: the rejects file is in English
    assert entry["field"] == "language" and "ISO 639-1" in entry["message"]

    as_jsonl = tmp_path / "papers.jsonl"
    as_jsonl.write_bytes(
        b"\n".join([orjson.dumps(papers[0]), b"", b"{broken", orjson.dumps(papers[1])]) + b"\n"
    )
    report = await run("outcomes", as_jsonl, source="formats-j")
    assert report.counts == {"unchanged": 2, "rejected": 1}
    (entry,) = rejects_of(report.rejects_path)  # type: ignore[arg-type]
    assert entry["row"] == "3" and "not valid JSON" in entry["message"]


async def test_a_special_database_by_its_field_labels(
    run: Importer, stored: StoredRecords, gateway: httpx.AsyncClient, keys: Any,
    index_now: Any, tmp_path: Path,
) -> None:  # fmt: skip
    definition = {**copy.deepcopy(FRONTIER), "slug": "import-frontier"}
    created = await gateway.post("/api/v1/datasets", json=definition, headers=keys["admin"])
    assert created.status_code == 201, created.text
    await index_now()
    path = tmp_path / "难题.csv"
    path.write_text(
        "编号,问题,发布年份,类别,推荐单位,发布日期,评分,入选\n"
        "q1,如何实现可控核聚变,２０２３,前沿科学问题,清华大学；北京大学,45000,9.5,是\n"
        "q2,,2023,工程技术难题,,,,否\n"
        "q3,高效固态电池,2022,industry,某某研究所,2022-07-01,8,否\n",
        encoding="utf-8",
    )
    report = await run("datasets/import-frontier", path, source="frontier")
    assert report.counts == {"created": 1, "rejected": 2}, report.render()
    record = (await stored("datasets", "frontier"))["q1"]
    assert record.values["year"] == 2023 and record.values["kind"] == "science"
    assert record.values["published_on"] == "2023-03-15" and record.values["selected"] is True
    assert len(record.values["institutions"]) == 2
    entries = {(e["行号"], e["字段"]): e for e in rejects_of(report.rejects_path)}  # type: ignore[arg-type]
    assert entries[("3", "问题")]["原因"].startswith("必填")
    assert "未找到唯一匹配的机构" in entries[("4", "推荐单位")]["原因"]
    with pytest.raises(UsageError, match="no special database 'nope'"):
        await run("datasets/nope", path)
