"""The rejects file: every row that was not imported, the column, its value and why.

CSV in UTF-8 with a BOM, so Excel (also in China) opens it with the right characters; the
headers and reasons are in Chinese when the imported file's headers are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HEADERS_ZH = ("文件", "行号", "字段", "值", "原因")
HEADERS_EN = ("file", "row", "field", "value", "message")


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class RejectsFile:
    """Appends entries as batches are acknowledged; a resumed run keeps earlier entries."""

    def __init__(self, path: Path, *, chinese: bool) -> None:
        self.path = path
        self.chinese = chinese
        self.count = 0
        self.rows: set[tuple[str, int]] = set()

    def start(self, keep: dict[str, int]) -> None:
        """Begin the file; entries of a file up to its row in `keep` survive (a resume)."""
        kept: list[list[str]] = []
        if keep and self.path.exists():
            with self.path.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.reader(handle)
                next(reader, None)
                for entry in reader:
                    row = int(entry[1]) if len(entry) >= 2 and entry[1].isdigit() else None
                    if row is not None and entry[0] in keep and row <= keep[entry[0]]:
                        kept.append(entry)
                        self.rows.add((entry[0], row))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADERS_ZH if self.chinese else HEADERS_EN)
            writer.writerows(kept)
        self.count = len(kept)

    def add(self, entries: Iterable[tuple[str, int, str, Any, str]]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for file, row, field, value, message in entries:
            writer.writerow([file, row, field, _shown(value), message])
            self.rows.add((file, row))
            self.count += 1
        with self.path.open("a", encoding="utf-8", newline="") as handle:
            handle.write(buffer.getvalue())
