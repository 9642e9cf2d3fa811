"""Cleaning cell values the way spreadsheets hold them, before the services' schemas see them.

Structured values (numbers, years, dates, codes, identifiers, yes/no, enum labels) are NFKC
normalised, so full-width digits and letters (１９１１, ＡＢＣ) become ASCII; prose (names,
titles, abstracts) keeps its characters and is only trimmed. A value that cannot be
converted is passed on as it is, so the service's own schema rejects it with its message.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

from services.kernel.text import TextRefused
from services.kernel.text import clean_key

# Excel's day 0 (serial 60 is the 1900-02-29 that never was, so later serials count from here).
_EXCEL_EPOCH = date(1899, 12, 30)
# Serials from 10000 (1927-05-18) up to 9999-12-31; smaller numbers are read as years.
_EXCEL_SERIALS = (10_000, 2_958_465)
_SPLIT = re.compile(r"\s*[;；、,，|\n]\s*")
_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL_INTEGER = re.compile(r"^([+-]?\d+)\.0+$")
_YEAR_SUFFIX = re.compile(r"^(\d{4})\s*年?$")
_SLASHED_DATE = re.compile(r"^(\d{4})[./\-](\d{1,2})(?:[./\-](\d{1,2}))?$")
_LEADING_YEAR = re.compile(r"^(\d{4})[-/.年]")
_CHINESE_DAY = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$")

TRUE_WORDS = frozenset({"是", "对", "有", "true", "yes", "y", "1", "√", "✓"})
FALSE_WORDS = frozenset({"否", "错", "无", "false", "no", "n", "0", "×", "✗"})


def nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _plain_number(value: Any) -> Any:
    """Numbers as text without Excel's trailing `.0`; other values unchanged."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def text(value: Any) -> Any:
    """One line of prose: trimmed, blank → None; numbers as the digits shown."""
    if value is None:
        return None
    value = _plain_number(value)
    if isinstance(value, datetime | date):
        return excel_date(value)
    if isinstance(value, str):
        return value.strip() or None
    return value


def block(value: Any) -> Any:
    """Long text: trimmed at the ends, inner line breaks kept."""
    return text(value)


def key(value: Any) -> Any:
    """A record's key in its source (编号): the platform's rule for keys (kernel/text.py), so
    rows the platform would take for one record are caught as duplicates in the file. A key
    the rule refuses is passed on as it is, for validation to report."""
    value = text(value)
    if not isinstance(value, str):
        return value
    try:
        return clean_key(value) or None
    except TextRefused:
        return value


def code(value: Any) -> Any:
    """Identifiers, URLs, e-mail addresses, phone numbers: NFKC, trimmed."""
    value = text(value)
    return nfkc(value) or None if isinstance(value, str) else value


def integer(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        cleaned = nfkc(value).replace(",", "").replace(" ", "")
        if not cleaned:
            return None
        if _INTEGER.match(cleaned):
            return int(cleaned)
        match = _DECIMAL_INTEGER.match(cleaned)
        if match:
            return int(match.group(1))
        return cleaned
    return value


def number(value: Any) -> Any:
    if isinstance(value, str):
        cleaned = nfkc(value).replace(",", "").replace(" ", "")
        return cleaned or None
    return value


def year(value: Any) -> Any:
    """A year: `1911`, `１９１１年`, `1911.0`, or the year of a date (1911-04-29)."""
    if isinstance(value, datetime | date):
        return value.year
    value = integer(value)
    if isinstance(value, str):
        match = _YEAR_SUFFIX.match(value) or _LEADING_YEAR.match(value)
        if match:
            return int(match.group(1))
    return value


def excel_serial(serial: float) -> str:
    return (_EXCEL_EPOCH + timedelta(days=int(serial))).isoformat()


def excel_date(value: datetime | date) -> str:
    return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()


def day(value: Any) -> Any:
    """A calendar date as ISO `YYYY-MM-DD`: Excel dates and serials, `2021/5/12`, `2021.5.12`,
    `2021年5月12日`."""
    match = _CHINESE_DAY.match(nfkc(value)) if isinstance(value, str) else None
    if match:
        y, m, d = match.groups()
        return f"{y}-{int(m):02d}-{int(d):02d}"
    return _date(value, allow_partial=False)


def published(value: Any) -> Any:
    """A date at the precision known: a full date, a month (`2021-05`) or a year (`2021`)."""
    return _date(value, allow_partial=True)


def _date(value: Any, *, allow_partial: bool) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, datetime | date):
        return excel_date(value)
    if isinstance(value, int | float):
        return _numeric_date(value, allow_partial)
    if not isinstance(value, str):
        return value
    cleaned = nfkc(value)
    if not cleaned:
        return None
    match = _SLASHED_DATE.match(cleaned)
    if match:
        y, m, d = match.groups()
        if d is not None:
            return f"{y}-{int(m):02d}-{int(d):02d}"
        return f"{y}-{int(m):02d}" if allow_partial else cleaned
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        return _numeric_date(float(cleaned), allow_partial)
    return cleaned


def _numeric_date(value: float, allow_partial: bool) -> Any:
    if _EXCEL_SERIALS[0] <= value <= _EXCEL_SERIALS[1]:
        return excel_serial(value)
    if allow_partial and float(value).is_integer() and 1000 <= value <= 9999:
        return str(int(value))  # a year
    return str(int(value)) if float(value).is_integer() else str(value)


def boolean(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = nfkc(value).lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        return word or None
    return value


def split_list(value: Any) -> Any:
    """A list from a cell: `a;b`, `a、b`, `a，b`, `a|b` or line breaks; lists stay lists."""
    if value is None:
        return None
    if isinstance(value, list):
        items = [text(v) if not isinstance(v, dict) else v for v in value]
        return [v for v in items if v is not None]
    value = text(value)
    if not isinstance(value, str):
        return [value]
    return [part for part in _SPLIT.split(value) if part]


def enum(value: Any, labels: Mapping[str, Any]) -> Any:
    """A label (高校) or a value (university) as the value; unknown ones pass unchanged."""
    value = text(value)
    if not isinstance(value, str):
        return value
    cleaned = nfkc(value)
    for candidate in (cleaned, cleaned.lower()):
        if candidate in labels:
            return labels[candidate]
    return cleaned


def is_blank(value: Any) -> bool:
    return value is None or value == "" or value == []
