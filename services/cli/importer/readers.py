"""Reading import files: CSV (any encoding Excel in China writes), XLSX, JSON and JSONL.

Every reader gives the same `Table`: the column headers in file order and the rows as
`{header: value}` with the row number the admin sees (the spreadsheet row, the JSONL line,
the JSON array position from 1), and the file's SHA-256 so a resumed import knows the file
did not change.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import orjson

CSV_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
JSON_SUFFIXES = frozenset({".json"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
DELIMITERS = (",", "\t", ";", "|")


class UnreadableFile(Exception):
    """The file cannot be read as a table; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class SourceRow:
    number: int
    cells: dict[str, Any]
    # Why the row could not be read at all (a JSONL line that is not JSON).
    error: str | None = None


@dataclass
class Table:
    path: Path
    format: str
    headers: list[str]
    rows: list[SourceRow]
    sha256: str
    encoding: str | None = None
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [self.format.upper()]
        if self.encoding:
            parts.append(self.encoding)
        if self.delimiter:
            parts.append("tab-separated" if self.delimiter == "\t" else f"{self.delimiter!r}")
        return ", ".join(parts)


def read_table(path: Path) -> Table:
    """The file as a table, its format chosen by extension (content for unknown ones)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    digest = hashlib.sha256(data).hexdigest()
    suffix = path.suffix.lower()
    if suffix in XLSX_SUFFIXES or data[:4] == b"PK\x03\x04":
        return _read_xlsx(path, data, digest)
    if suffix in JSONL_SUFFIXES:
        return _read_jsonl(path, data, digest)
    if suffix in JSON_SUFFIXES:
        return _read_json(path, data, digest)
    if suffix not in CSV_SUFFIXES and data.lstrip()[:1] in (b"[", b"{"):
        return (
            _read_json(path, data, digest)
            if data.lstrip()[:1] == b"["
            else _read_jsonl(path, data, digest)
        )
    return _read_csv(path, data, digest)


# --- CSV --------------------------------------------------------------------------------


def decode(data: bytes) -> tuple[str, str]:
    """Text and encoding: a BOM decides; else UTF-8 if it decodes strictly; else GB18030.

    GB18030 is a superset of GBK and GB2312, which is what Excel in China saves as "CSV".
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), "UTF-8 with BOM"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "UTF-16"
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "GB18030"
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            "neither UTF-8 nor GB18030/GBK; save the file as CSV UTF-8 and try again"
        ) from exc


def sniff_delimiter(header_line: str, suffix: str) -> str:
    """The delimiter the header row uses most (comma when none appears)."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    if counts[best]:
        return best
    return "\t" if suffix == ".tsv" else ","


def _read_csv(path: Path, data: bytes, digest: str) -> Table:
    try:
        text, encoding = decode(data)
    except UnreadableFile as exc:
        raise UnreadableFile(f"{path}: {exc}") from exc
    first = next((line for line in io.StringIO(text) if line.strip()), "")
    delimiter = sniff_delimiter(first, path.suffix.lower())
    records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    table = Table(path, "csv", [], [], digest, encoding=encoding, delimiter=delimiter)
    try:
        _fill(table, enumerate(records, start=1))
    except csv.Error as exc:
        raise UnreadableFile(f"{path}: not a readable CSV file ({exc})") from exc
    return table


def _fill(table: Table, records: Iterable[tuple[int, Sequence[Any]]]) -> None:
    """Headers from the first non-blank record, then one row per non-blank record."""
    width_warned = False
    for number, record in records:
        cells = [_cell(value) for value in record]
        if all(value is None for value in cells):
            continue  # blank line or row
        if not table.headers:
            table.headers = _unique_headers(cells)
            continue
        extra = cells[len(table.headers) :]
        if not width_warned and any(value is not None for value in extra):
            table.notes.append(
                f"row {number} has more cells than there are headers; the extra cells are ignored"
            )
            width_warned = True
        table.rows.append(SourceRow(number, dict(zip(table.headers, cells, strict=False))))
    if not table.headers:
        raise UnreadableFile(f"{table.path}: the file has no header row (it is empty)")


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _unique_headers(cells: Sequence[Any]) -> list[str]:
    headers: list[str] = []
    for index, value in enumerate(cells, start=1):
        name = str(value).strip() if value is not None else f"column {index}"
        candidate, n = name, 2
        while candidate in headers:
            candidate, n = f"{name} ({n})", n + 1
        headers.append(candidate)
    return headers


# --- XLSX -------------------------------------------------------------------------------


def _read_xlsx(path: Path, data: bytes, digest: str) -> Table:
    try:
        from openpyxl import load_workbook
    except ImportError as exc:  # pragma: no cover - a dependency of the distribution
        raise UnreadableFile("reading .xlsx needs openpyxl (pip install openpyxl)") from exc
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise UnreadableFile(f"{path}: not a readable .xlsx workbook ({exc})") from exc
    try:
        table = Table(path, "xlsx", [], [], digest)
        sheet = next((ws for ws in workbook.worksheets if ws.max_row and ws.max_row > 0), None)
        if sheet is None:
            raise UnreadableFile(f"{path}: the workbook has no worksheet with data")
        if len(workbook.worksheets) > 1:
            table.notes.append(f"read the first worksheet, {sheet.title!r}, only")
        _fill(table, enumerate(sheet.iter_rows(values_only=True), start=1))
        return table
    finally:
        workbook.close()


# --- JSON and JSONL ---------------------------------------------------------------------


def _read_json(path: Path, data: bytes, digest: str) -> Table:
    try:
        document = orjson.loads(data.removeprefix(codecs.BOM_UTF8))
    except orjson.JSONDecodeError as exc:
        raise UnreadableFile(f"{path}: not valid JSON ({exc})") from exc
    if isinstance(document, dict):
        lists = [v for v in document.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise UnreadableFile(
                f"{path}: expected a JSON array of objects (one per record), or an object "
                "holding one such array"
            )
        document = lists[0]
    if not isinstance(document, list):
        raise UnreadableFile(f"{path}: expected a JSON array of objects, one per record")
    table = Table(path, "json", [], [], digest)
    for number, item in enumerate(document, start=1):
        _add_object(table, number, item)
    return table


def _read_jsonl(path: Path, data: bytes, digest: str) -> Table:
    table = Table(path, "jsonl", [], [], digest)
    for number, raw in enumerate(data.removeprefix(codecs.BOM_UTF8).split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            table.rows.append(SourceRow(number, {}, error=f"not valid JSON ({exc})"))
            continue
        _add_object(table, number, item)
    return table


def _add_object(table: Table, number: int, item: Any) -> None:
    if not isinstance(item, dict):
        table.rows.append(SourceRow(number, {}, error="not a JSON object"))
        return
    for key in item:
        if key not in table.headers:
            table.headers.append(key)
    table.rows.append(SourceRow(number, {k: _cell(v) for k, v in item.items()}))
