"""The importer's pure parts: readers, value cleaning, column mapping, state, client retries."""

from __future__ import annotations

import io
from datetime import date
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.cli.importer import values as v
from services.cli.importer.client import BodyTooLarge
from services.cli.importer.client import GatewayClient
from services.cli.importer.client import GatewayError
from services.cli.importer.client import GatewayUnavailable
from services.cli.importer.mapping import MappingError
from services.cli.importer.mapping import content_key
from services.cli.importer.mapping import convert
from services.cli.importer.mapping import map_columns
from services.cli.importer.mapping import parse_overrides
from services.cli.importer.profiles.experts import PROFILE as EXPERTS
from services.cli.importer.profiles.institutions import PROFILE as INSTITUTIONS
from services.cli.importer.profiles.outcomes import PROFILE as OUTCOMES
from services.cli.importer.progress import Progress
from services.cli.importer.readers import UnreadableFile
from services.cli.importer.readers import decode
from services.cli.importer.readers import read_table
from services.cli.importer.state import FileState
from services.cli.importer.state import ImportState
from services.cli.main import build_parser
from services.cli.main import main

ROWS = "名称,省份\n清华大学,北京\n\n北京大学,北京\n"


# --- readers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        (ROWS.encode("utf-8"), "UTF-8"),
        (b"\xef\xbb\xbf" + ROWS.encode("utf-8"), "UTF-8 with BOM"),
        (ROWS.encode("gbk"), "GB18030"),
        (ROWS.replace("北京大学", "䶮大学").encode("gb18030"), "GB18030"),  # beyond GBK
        (ROWS.encode("utf-16"), "UTF-16"),
    ],
)
def test_csv_encodings_are_detected_without_asking(
    tmp_path: Path, encoded: bytes, encoding: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(encoded)
    table = read_table(path)
    assert table.encoding == encoding and table.headers == ["名称", "省份"]
    assert [r.number for r in table.rows] == [2, 4]  # blank line 3 skipped, numbering kept
    assert table.rows[0].cells == {"名称": "清华大学", "省份": "北京"}


@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"])
def test_the_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        f"名称{delimiter}英文名称{delimiter}标签\n"
        f'"清华大学"{delimiter}Tsinghua University, Beijing{delimiter}"a,b"\n',
        encoding="utf-8",
    )
    table = read_table(path)
    assert table.delimiter == delimiter and len(table.headers) == 3
    assert table.rows[0].cells["名称"] == "清华大学"


def test_readers_refuse_what_is_not_a_table(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(UnreadableFile, match="no header row"):
        read_table(empty)
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    with pytest.raises(UnreadableFile, match="not valid JSON"):
        read_table(broken)
    with pytest.raises(UnreadableFile, match="cannot read"):
        read_table(tmp_path / "missing.csv")
    headers = tmp_path / "dup.csv"
    headers.write_text("名称,名称,\n甲,乙,丙\n", encoding="utf-8")
    assert read_table(headers).headers == ["名称", "名称 (2)", "column 3"]


def test_json_wrapped_in_an_object_and_jsonl_errors(tmp_path: Path) -> None:
    wrapped = tmp_path / "w.json"
    wrapped.write_text('{"data": [{"name": "甲"}, 3]}', encoding="utf-8")
    table = read_table(wrapped)
    assert table.rows[0].cells == {"name": "甲"} and table.rows[1].error == "not a JSON object"
    assert decode("中文".encode("gb18030"))[1] == "GB18030"


# --- values -----------------------------------------------------------------------------


def test_values_are_cleaned_as_spreadsheets_hold_them() -> None:
    assert v.integer("１９１１") == 1911 and v.integer(1911.0) == 1911
    assert v.integer("1,234") == 1234 and v.integer("一九七八") == "一九七八"
    assert v.year("1911年") == 1911 and v.year("1911-04-29") == 1911
    assert v.year(datetime(1911, 4, 29)) == 1911
    assert v.published(44927) == "2023-01-01" and v.published("44927") == "2023-01-01"
    assert v.published(45000.0) == "2023-03-15" and v.published("2021") == "2021"
    assert v.published("2021/5/12") == "2021-05-12" and v.published("2021.05") == "2021-05"
    assert (
        v.published("２０２１年５月") == "2021年5月"
        and v.published(date(2020, 1, 2)) == "2020-01-02"
    )
    assert v.day("2021/5") == "2021/5" and v.day(44927) == "2023-01-01"
    assert v.boolean("是") is True and v.boolean("否") is False and v.boolean("Y") is True
    assert v.boolean("也许") == "也许"
    assert v.split_list("双一流；985、211,C9，A|B") == ["双一流", "985", "211", "C9", "A", "B"]
    assert v.split_list(["a", " ", None]) == ["a"]
    assert v.text("  清华大学　") == "清华大学" and v.text(" ") is None and v.text(12.0) == "12"
    assert v.code("ｗｗｗ．ｐｋｕ．ｅｄｕ．ｃｎ") == "www.pku.edu.cn"
    assert v.enum("高校", {"高校": "university"}) == "university"
    assert v.enum("Ｘ", {}) == "X"


# --- mapping ----------------------------------------------------------------------------


def test_default_mappings_overrides_and_missing_columns() -> None:
    columns = map_columns(["编号", "单位名称*", "英文 名称", "成立年份", "备注"], INSTITUTIONS)
    assert columns.columns == {
        "编号": "external_id", "单位名称*": "name", "英文 名称": "name_en",
        "成立年份": "established_year",
    }  # fmt: skip
    assert columns.unmapped == ["备注"] and columns.has_id_column

    overrides = parse_overrides(["学校=name,备注=description", "代号="])
    columns = map_columns(["学校", "备注", "代号"], INSTITUTIONS, overrides)
    assert columns.columns == {"学校": "name", "备注": "description"}
    assert columns.ignored == ["代号"]

    with pytest.raises(MappingError, match="no field 'nom'"):
        map_columns(["学校"], INSTITUTIONS, {"学校": "nom"})
    with pytest.raises(MappingError, match="does not have"):
        map_columns(["学校"], INSTITUTIONS, {"学校": "name", "校名": "name"})
    with pytest.raises(MappingError, match="required field"):
        map_columns(["省份"], INSTITUTIONS)
    with pytest.raises(MappingError, match="COLUMN=FIELD"):
        parse_overrides(["单位名称"])
    assert map_columns(["姓名", "工作单位", "单位"], EXPERTS).unmapped == ["单位"]


def test_a_row_without_id_is_keyed_by_its_identifying_fields() -> None:
    columns = map_columns(["题名", "发表日期", "摘要"], OUTCOMES)
    one = convert({"题名": "报告", "发表日期": "2021", "摘要": "甲"}, columns, OUTCOMES)
    fixed = convert({"题名": " 报告 ", "发表日期": 2021, "摘要": "乙"}, columns, OUTCOMES)
    other = convert({"题名": "报告", "发表日期": "2022", "摘要": "甲"}, columns, OUTCOMES)
    assert content_key(OUTCOMES, one.fields) == content_key(OUTCOMES, fixed.fields)
    assert content_key(OUTCOMES, one.fields) != content_key(OUTCOMES, other.fields)
    assert content_key(OUTCOMES, one.fields).startswith("h-")


# --- state and progress -----------------------------------------------------------------


def test_state_resumes_only_the_same_unfinished_file(tmp_path: Path) -> None:
    state = ImportState(tmp_path / "s.json")
    state.record("/f.csv", FileState("abc", "institutions", "src", 41, False, {"created": 40}))
    loaded = ImportState.load(tmp_path / "s.json")
    entry = loaded.resume_point("/f.csv", "abc", "institutions", "src")
    assert entry is not None and entry.row == 41 and entry.counts == {"created": 40}
    assert loaded.resume_point("/f.csv", "changed", "institutions", "src") is None
    assert loaded.resume_point("/f.csv", "abc", "institutions", "other") is None
    loaded.record("/f.csv", FileState("abc", "institutions", "src", 99, True, {}))
    assert (
        ImportState.load(tmp_path / "s.json").resume_point("/f.csv", "abc", "institutions", "src")
        is None
    )
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    assert ImportState.load(tmp_path / "bad.json").files == {}


def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    plain = io.StringIO()
    progress = Progress("a.csv", 200, stream=plain, tty=False)
    progress.update(100, 100, force=True)
    progress.finish()
    first = plain.getvalue().splitlines()[0]
    assert first.startswith("a.csv: 100/200 rows (50%)") and "records/s" in first and "ETA" in first
    bar = io.StringIO()
    progress = Progress("a.csv", 200, stream=bar, tty=True)
    progress.update(50, 50, force=True)
    progress.finish()
    assert bar.getvalue().startswith("\ra.csv ██████░") and bar.getvalue().endswith("\n")


# --- client -----------------------------------------------------------------------------


async def no_wait(_seconds: float) -> None:
    return None


def client_for(answers: list[Any]) -> tuple[GatewayClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = GatewayClient(
        "http://gw", "secret", transport=httpx.MockTransport(handle), retries=3, sleep=no_wait
    )
    return client, seen


async def test_the_client_retries_what_is_worth_retrying() -> None:
    ok = httpx.Response(200, json={"results": [], "summary": {}})
    client, seen = client_for(
        [httpx.ConnectError("down"), httpx.Response(503, headers={"Retry-After": "2"}), ok]
    )
    assert await client.bulk("institutions", b"{}\n") == {"results": [], "summary": {}}
    assert client.retried == 2 and len(seen) == 3
    assert seen[0].headers["content-type"] == "application/x-ndjson"
    assert seen[0].headers["authorization"] == "Bearer secret"

    client, seen = client_for([httpx.Response(503)] * 4)
    with pytest.raises(GatewayUnavailable, match="after 4 attempts"):
        await client.bulk("institutions", b"{}\n")
    client, _ = client_for([httpx.Response(413, json={"detail": "too big"})])
    with pytest.raises(BodyTooLarge):
        await client.bulk("institutions", b"{}\n")
    client, seen = client_for([httpx.Response(403, json={"detail": "needs an admin key"})])
    with pytest.raises(GatewayError, match="needs an admin key") as refused:
        await client.bulk("institutions", b"{}\n")
    assert refused.value.status == 403 and len(seen) == 1


# --- command line -----------------------------------------------------------------------


def test_the_import_command_is_wired_into_zhihui(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(
        ["import", "institutions", "a.csv", "b.xlsx", "--map", "单位=name", "--dry-run",
         "--batch-size", "200", "--source", "cast"]
    )  # fmt: skip
    assert args.library == "institutions" and [p.name for p in args.files] == ["a.csv", "b.xlsx"]
    assert args.map == ["单位=name"] and args.dry_run and args.batch_size == 200
    path = tmp_path / "a.csv"
    path.write_text(ROWS, encoding="utf-8")
    assert main(["import", "people", str(path)]) == 2
    assert "unknown library 'people'" in capsys.readouterr().err
    assert main(["import", "institutions", str(path), "--batch-size", "5000"]) == 2
    assert main(["import", "institutions", str(path), "--map", "broken"]) == 2
