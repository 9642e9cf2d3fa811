"""`zhihui import events`: a spreadsheet of activities as staff keep it (Chinese headers,
Chinese dates, organisers by name, speakers and hosts by column), with its rejects."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from services.cli.importer.runner import EXIT_REJECTS
from tests.importer.conftest import Importer
from tests.importer.conftest import StoredRecords

INSTITUTIONS = """单位名称,机构类型,省份
中国科学技术协会,全国学会,北京
清华大学,高校,北京
"""

HEADER = (
    "活动名称,活动类型,系列活动,期次,举办时间,结束日期,主办单位,承办单位,主讲人,主持人,地点,"
    "关键词,公开范围"
)
ROWS = [
    "科技自立自强与新型举国体制,座谈会,智汇双月谈,12,2023年6月16日,,中国科学技术协会,清华大学,"
    "张三、李四,王五,中国科技会堂,新型举国体制；科技自立自强,公开",
    "中国科技政策论坛（2023）,论坛,中国科技政策论坛,3,2023/11/2,2023/11/3,"
    "中国科学技术协会；某某不存在的研究会,,赵六,,北京,科技政策,内部",
    "倒着的日期,研讨会,,,2023-05-10,2023-05-01,,,,,,,",
]
EVENTS = "\n".join([HEADER, *ROWS]) + "\n"


def rejects_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))


async def test_events_from_a_spreadsheet(
    run: Importer, stored: StoredRecords, index_now: Any, tmp_path: Path
) -> None:
    institutions = tmp_path / "机构.csv"
    institutions.write_text(INSTITUTIONS, encoding="utf-8")
    await run("institutions", institutions, source="events-link")
    await index_now()
    ids = {r.name: r.id for r in (await stored("institutions", "events-link")).values()}

    events = tmp_path / "活动.csv"
    events.write_text(EVENTS, encoding="utf-8")
    rejects = tmp_path / "活动.rejects.csv"
    report = await run("events", events, source="events-sheet", rejects=rejects)
    assert report.exit_code == EXIT_REJECTS, report.render()
    assert report.counts == {"created": 2, "rejected": 1}
    records = {r.title: r for r in (await stored("events", "events-sheet")).values()}

    bimonthly = records["科技自立自强与新型举国体制"]
    assert (bimonthly.kind, bimonthly.series, bimonthly.series_number) == (
        "symposium",
        "智汇双月谈",
        12,
    )
    assert bimonthly.starts_on.isoformat() == "2023-06-16"
    assert bimonthly.organiser_ids == [ids["中国科学技术协会"]]
    assert bimonthly.co_organiser_ids == [ids["清华大学"]]
    assert [(p["name"], p["role"]) for p in bimonthly.participants] == [
        ("张三", "speaker"),
        ("李四", "speaker"),
        ("王五", "host"),
    ]
    assert bimonthly.visibility == "public"

    forum = records["中国科技政策论坛（2023）"]
    assert forum.ends_on.isoformat() == "2023-11-03" and forum.visibility == "internal"
    assert forum.organiser_ids == [ids["中国科学技术协会"]]
    # The organiser no institution matches stays in the summary, as the file says it.
    assert "某某不存在的研究会" in (forum.summary or "")

    (rejected,) = rejects_of(rejects)
    assert (rejected["行号"], rejected["字段"], rejected["值"]) == ("4", "结束日期", "2023-05-01")
    assert "before starts_on" in rejected["原因"]

    again = await run("events", events, source="events-sheet", rejects=rejects)
    assert again.counts == {"unchanged": 2, "rejected": 1}, again.render()
