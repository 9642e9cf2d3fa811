"""`zhihui import` end to end: files in, records in the services, rejects out, resumable."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import httpx
import orjson

from services.cli.importer.runner import EXIT_OK
from services.cli.importer.runner import EXIT_REJECTS
from services.cli.importer.runner import EXIT_STOPPED
from services.cli.importer.runner import EXIT_USAGE
from tests.importer.conftest import Importer
from tests.importer.conftest import StoredRecords

CLEAN = """编号,单位名称,英文名称,机构类型,省份,城市,成立年份,官网,标签
1,清华大学,Tsinghua University,高校,北京,北京市,1911,https://www.tsinghua.edu.cn,双一流;985
2,北京大学,Peking University,高校,北京,北京市,1898,https://www.pku.edu.cn,双一流;985
3,中国科学院科技战略咨询研究院,,科研院所,北京,北京市,2015,,智库
4,中国科学技术协会,China Association for Science and Technology,学会,北京,北京市,1958,,
"""


def rejects_of(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "the rejects file starts with a BOM (for Excel)"
    return list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))


async def test_a_clean_file_is_imported_and_a_second_run_changes_nothing(
    run: Importer, stored: StoredRecords, tmp_path: Path
) -> None:
    path = tmp_path / "clean.csv"
    path.write_text(CLEAN, encoding="utf-8")

    first = await run("institutions", path, source="clean-t1")
    assert first.exit_code == EXIT_OK, first.render()
    assert first.counts["created"] == 4 and first.counts["rejected"] == 0
    records = await stored("institutions", "clean-t1")
    assert sorted(records) == ["1", "2", "3", "4"]
    tsinghua = records["1"]
    assert (tsinghua.name, tsinghua.type, tsinghua.established_year) == (
        "清华大学",
        "university",
        1911,
    )
    assert tsinghua.tags == ["双一流", "985"] and tsinghua.version == 1
    assert records["3"].type == "research_institute" and records["4"].type == "society"
    assert "4 records" in first.render() and "records/s" in first.render()
    assert rejects_of(first.rejects_path) == []  # type: ignore[arg-type]

    second = await run("institutions", path, source="clean-t1")
    assert second.exit_code == EXIT_OK
    assert dict(second.counts) == {"unchanged": 4, "rejected": 0}
    again = await stored("institutions", "clean-t1")
    assert {k: r.version for k, r in again.items()} == {k: 1 for k in records}

    corrected = path.with_name("clean-corrected.csv")
    corrected.write_text(CLEAN.replace("2015,,智库", "2015,www.casisd.cn,智库"), encoding="utf-8")
    third = await run("institutions", corrected, source="clean-t1")
    assert third.counts["updated"] == 1 and third.counts["unchanged"] == 3
    updated = await stored("institutions", "clean-t1")
    assert updated["3"].website == "https://www.casisd.cn" and updated["3"].version == 2


# A spreadsheet as partner societies send them: saved by Excel in China (GBK), blank lines,
# padded cells, a repeated row, full-width digits, words where numbers belong, an unknown type.
MESSY_INSTITUTIONS = [
    "编号,单位名称,机构类型,省份,城市,成立年份,统一社会信用代码,网址,标签",
    "Ａ１,清华大学,高校,北京,北京市,１９１１,12100000400000624D,www.tsinghua.edu.cn,双一流；985",
    "",
    "A2,北京大学,大学,北京,北京市,1898,,https://www.pku.edu.cn,双一流、985",
    "A3,中国科学院大学,科研院所,北京,,一九七八,,,",
    "A2,北京大学,大学,北京,北京市,1898,,https://www.pku.edu.cn,双一流、985",
    "A4,,高校,上海,,1907,,,",
    "A5,复旦大学,研究中心,上海,上海市,1905,,,",
    "A6,南京大学,高校,江苏,南京市,1902,12100000400000624E,,",
    " A7 , 浙江大学 ,高校,浙江,杭州市,1897.0,,,",
    "A8,武汉大学,高校,湖北,武汉市,3000,,,",
    "",
    "",
]

# Outcomes exported with a BOM, tab-separated, dates as Excel serial numbers.
MESSY_OUTCOMES = [
    "编号\t题名\t作者\t类型\t发表日期\t关键词\t公开范围",
    "o1\t关于加快建设科技强国的若干建议\t张三、李四\t政策建议\t44927\t科技强国；基础研究\t公开",
    "o2\t人工智能治理研究报告\t王五\t研究报告\t２０２１年５月\t人工智能,治理\t合作单位",
    "",
    "o3\t\t赵六\t论文\t2021/5/12\t\t公开",
    "o4\t碳达峰路径研究\t钱七\t专利\t2022\t碳达峰\t公开",
    "o5\t数字经济发展快报\t孙八\t快报\t2021/13/40\t数字经济\t内部",
    "o6\t科技人才评价改革建议\t周九；吴十\t政策建议\t45000.0\t人才评价\t公开",
]


async def test_a_messy_file_imports_its_good_rows_and_lists_the_bad_ones(
    run: Importer, stored: StoredRecords, tmp_path: Path
) -> None:
    institutions = tmp_path / "机构名单.csv"
    institutions.write_bytes("\r\n".join(MESSY_INSTITUTIONS).encode("gbk"))
    no_name = tmp_path / "缺列.csv"
    no_name.write_text("编号,省份\n1,北京\n", encoding="utf-8")
    rejects = tmp_path / "rejects.csv"

    report = await run("institutions", institutions, no_name, source="messy-t2", rejects=rejects)
    assert report.exit_code == EXIT_USAGE, report.render()  # one file could not be mapped
    good = await stored("institutions", "messy-t2")
    assert sorted(good) == ["A1", "A2", "A7"]
    assert good["A1"].established_year == 1911 and good["A1"].tags == ["双一流", "985"]
    assert good["A1"].website == "https://www.tsinghua.edu.cn" and good["A1"].uscc
    assert good["A2"].type == "university"
    assert good["A7"].name == "浙江大学" and good["A7"].established_year == 1897
    file_report, missing = report.files
    assert "GB18030" in file_report.format
    assert missing.error and "单位名称" in missing.error and "--map" in missing.error
    assert file_report.counts == {"created": 3, "rejected": 6}

    entries = rejects_of(rejects)
    assert set(entries[0]) == {"文件", "行号", "字段", "值", "原因"}  # Chinese file, Chinese report
    by_row = {int(e["行号"]): e for e in entries}
    assert sorted(by_row) == [5, 6, 7, 8, 9, 11]  # the spreadsheet's own row numbers
    assert by_row[5]["字段"] == "成立年份" and by_row[5]["值"] == "一九七八"
    assert by_row[5]["原因"] == "应为整数"
    assert "重复行" in by_row[6]["原因"] and "第 4 行" in by_row[6]["原因"]
    assert by_row[7]["字段"] == "单位名称" and by_row[7]["原因"] == "必填，不能为空"
    assert by_row[8]["字段"] == "机构类型" and "高校（university）" in by_row[8]["原因"]
    assert by_row[9]["字段"] == "统一社会信用代码" and by_row[9]["值"] == "12100000400000624E"
    assert by_row[9]["原因"].startswith("取值无效：")
    assert by_row[11]["字段"] == "成立年份" and "future" in by_row[11]["原因"]

    outcomes = tmp_path / "成果.tsv"
    outcomes.write_bytes(b"\xef\xbb\xbf" + "\n".join(MESSY_OUTCOMES).encode("utf-8"))
    report = await run("outcomes", outcomes, source="messy-t2", rejects=rejects)
    assert report.exit_code == EXIT_REJECTS, report.render()
    assert "UTF-8 with BOM" in report.files[0].format
    good = await stored("outcomes", "messy-t2")
    assert sorted(good) == ["o1", "o2", "o6"]
    assert good["o1"].published_on.isoformat() == "2023-01-01"  # Excel serial 44927
    assert good["o6"].published_on.isoformat() == "2023-03-15"  # 45000.0
    assert good["o2"].published_precision == "month" and good["o2"].visibility == "partner"
    assert [a["name"] for a in good["o1"].authors] == ["张三", "李四"]
    assert good["o1"].keywords == ["科技强国", "基础研究"] and good["o1"].type == "policy_brief"
    by_row = {int(e["行号"]): e for e in rejects_of(rejects)}
    assert sorted(by_row) == [5, 6, 7]  # the rejects file now lists this run's file
    assert by_row[5]["字段"] == "题名" and by_row[6]["字段"] == "类型"
    assert by_row[7]["字段"] == "发表日期" and by_row[7]["值"] == "2021/13/40"


async def test_the_service_rejects_what_needs_its_database_and_the_row_is_listed(
    run: Importer, stored: StoredRecords, tmp_path: Path
) -> None:
    first = tmp_path / "a.csv"
    first.write_text("编号,名称,统一社会信用代码\n1,国家自然科学基金委员会,12100000400000624D\n")
    second = tmp_path / "b.csv"
    second.write_text(
        "编号,名称,统一社会信用代码\n1,另一个单位,12100000400000624D\n2,第三个单位,\n"
    )
    await run("institutions", first, source="svc-t3a")
    report = await run("institutions", second, source="svc-t3b")
    assert report.counts == {"created": 1, "rejected": 1}
    (entry,) = rejects_of(report.rejects_path)  # type: ignore[arg-type]
    assert entry["行号"] == "2" and entry["字段"] == "统一社会信用代码"
    assert entry["原因"].startswith("与已有记录重复：")
    assert sorted(await stored("institutions", "svc-t3b")) == ["2"]


class FlakyTransport(httpx.AsyncBaseTransport):
    """The gateway behind a network that breaks: after `ok` bulk requests, the next one
    reaches the gateway (and is committed) but its answer is lost; then nothing gets through
    until `heal()`. With `busy`, the first bulk requests are answered 503 (a restart)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, ok: int = 10**9, busy: int = 0) -> None:
        self.inner = inner
        self.ok = ok
        self.busy = busy
        self.bulk_calls = 0
        self.healed = False

    def heal(self) -> None:
        self.healed = True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/bulk") or self.healed:
            return await self.inner.handle_async_request(request)
        self.bulk_calls += 1
        if self.bulk_calls <= self.busy:
            return httpx.Response(503, headers={"Retry-After": "1"}, json={"status": 503})
        if self.bulk_calls <= self.ok:
            return await self.inner.handle_async_request(request)
        if self.bulk_calls == self.ok + 1:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            raise httpx.ReadError("connection reset by peer")
        raise httpx.ConnectError("connection refused")


def outcome_rows(count: int) -> str:
    lines = ["id\ttitle\tauthors\tpublished_on\tkeywords\ttype"]
    for i in range(count):
        date = f"20{10 + i % 12}-0{1 + i % 9}"
        lines.append(f"r{i:03d}\t研究报告第{i}号\t作者{i}\t{date}\t关键词{i % 7}\t研究报告")
    return "\n".join(lines) + "\n"


def snapshot(records: dict[str, Any]) -> dict[str, Any]:
    fields = ("title", "authors", "published_on", "keywords", "type", "version", "owner_org")
    return {key: tuple(str(getattr(r, f)) for f in fields) for key, r in records.items()}


async def test_an_interrupted_import_resumes_to_the_same_state_as_an_uninterrupted_one(
    run: Importer, stored: StoredRecords, tmp_path: Path, gateway_app: Any
) -> None:
    path = tmp_path / "reports.tsv"
    path.write_text(outcome_rows(95), encoding="utf-8")
    whole = await run("outcomes", path, source="resume-whole", batch_size=10,
                      rejects=tmp_path / "whole.csv")  # fmt: skip
    assert whole.counts == {"created": 95, "rejected": 0}

    flaky = FlakyTransport(httpx.ASGITransport(app=gateway_app), ok=3)
    state = tmp_path / "resume.state.json"
    options = {"source": "resume-cut", "batch_size": 10, "state": state, "retries": 3}
    cut = await run("outcomes", path, transport=flaky, rejects=tmp_path / "cut.csv", **options)
    assert cut.exit_code == EXIT_STOPPED and "connection" in (cut.stopped or "")
    assert "run the same command again" in cut.render()
    saved = orjson.loads(state.read_bytes())["files"][str(path.resolve())]
    assert saved["row"] == 31 and not saved["complete"]  # header + 3 batches of 10
    # the 4th batch was written before its answer was lost
    assert len(await stored("outcomes", "resume-cut")) == 40

    flaky.heal()
    resumed = await run("outcomes", path, transport=flaky, rejects=tmp_path / "cut.csv", **options)
    assert resumed.exit_code == EXIT_OK, resumed.render()
    assert resumed.files[0].resumed_after == 31
    # The batch in flight is sent again with its Idempotency-Key: the answer lost with the
    # connection comes back, so the counts are an uninterrupted run's; nothing twice, nothing
    # missing.
    assert resumed.counts == whole.counts == {"created": 95, "rejected": 0}
    assert snapshot(await stored("outcomes", "resume-cut")) == snapshot(
        await stored("outcomes", "resume-whole")
    )
    assert orjson.loads(state.read_bytes())["files"][str(path.resolve())]["complete"]

    restarted = FlakyTransport(httpx.ASGITransport(app=gateway_app), busy=2)
    again = await run(
        "outcomes", path, transport=restarted, rejects=tmp_path / "cut.csv", **options
    )
    assert again.exit_code == EXIT_OK and again.retried == 2
    assert again.counts == {"unchanged": 95, "rejected": 0}


class SmallBodies(httpx.AsyncBaseTransport):
    """A gateway that accepts bulk bodies of at most `limit` bytes (413 above)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limit: int) -> None:
        self.inner = inner
        self.limit = limit
        self.sizes: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        if request.url.path.endswith("/bulk"):
            self.sizes.append(len(body))
            if len(body) > self.limit:
                return httpx.Response(413, json={"status": 413, "detail": "too large"})
        return await self.inner.handle_async_request(request)


async def test_a_batch_too_large_for_the_gateway_is_sent_in_halves(
    run: Importer, stored: StoredRecords, tmp_path: Path, gateway_app: Any
) -> None:
    path = tmp_path / "halves.tsv"
    path.write_text(outcome_rows(40), encoding="utf-8")
    small = SmallBodies(httpx.ASGITransport(app=gateway_app), limit=2500)
    report = await run("outcomes", path, transport=small, source="halves", batch_size=40)
    assert report.exit_code == EXIT_OK and report.counts["created"] == 40, report.render()
    assert max(small.sizes) > 2500 and len(await stored("outcomes", "halves")) == 40


async def test_a_dry_run_validates_and_writes_nothing(
    run: Importer, stored: StoredRecords, tmp_path: Path
) -> None:
    path = tmp_path / "dry.csv"
    path.write_text(CLEAN + "5,,,高校,,,,,\n", encoding="utf-8")
    report = await run("institutions", path, source="dry-t5", dry_run=True)
    assert report.exit_code == EXIT_REJECTS
    assert report.counts == {"valid": 4, "rejected": 1} and report.records == 0
    assert "dry run (nothing written)" in report.render()
    assert await stored("institutions", "dry-t5") == {}
    assert not (tmp_path / "dry.import-state.json").exists()
    assert [e["行号"] for e in rejects_of(report.rejects_path)] == ["6"]  # type: ignore[arg-type]


async def test_a_key_without_admin_rights_stops_the_import(
    run: Importer, make_key: Any, tmp_path: Path
) -> None:
    path = tmp_path / "editor.csv"
    path.write_text(CLEAN, encoding="utf-8")
    report = await run("institutions", path, key=await make_key("editor", "cast"))
    assert report.exit_code == EXIT_STOPPED and "403" in (report.stopped or "")


async def test_look_alike_keys_in_a_file_are_one_record(
    run: Importer, stored: StoredRecords, tmp_path: Path
) -> None:
    """`17`, `１７` and `17` with a zero-width space are one key on the platform, so the file
    holds one record and two repeats of it, reported as such (not three records)."""
    path = tmp_path / "look-alike.csv"
    path.write_text(
        "编号,单位名称\n17,十七研究所\n１７,十七研究所\n17\u200b,第十七研究所\n18,十八研究所\n",
        encoding="utf-8",
    )
    rejects = tmp_path / "look-alike.rejects.csv"
    report = await run("institutions", path, source="look-alike", rejects=rejects)
    assert report.files[0].counts == {"created": 2, "rejected": 2}, report.render()
    assert sorted(await stored("institutions", "look-alike")) == ["17", "18"]
    assert {int(e["行号"]) for e in rejects_of(rejects)} == {3, 4}
