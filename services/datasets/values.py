"""Typed values of dataset records: parsing, validation against a definition, conversion.

Pure logic, no I/O: whether a `ref:<library>` ID exists is asked by `references.py`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from datetime import date
from typing import Any

import orjson

from services.datasets.schemas import LIBRARIES
from services.datasets.schemas import MAX_KEYWORD_LENGTH
from services.datasets.schemas import STRING_TYPES
from services.datasets.schemas import FieldSpec
from services.kernel.errors import FieldError
from services.kernel.fields import clean_block
from services.kernel.fields import clean_line
from services.kernel.record_ids import is_id

MAX_TEXT_LENGTH = 2_000_000
MAX_ITEMS = 1000
# Integers stay exact in the SPA's JavaScript only up to 2**53 - 1.
MAX_SAFE_INTEGER = 2**53 - 1

_INTEGER = re.compile(r"^[+-]?\d+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = frozenset({"true", "yes", "1", "是"})
_FALSE = frozenset({"false", "no", "0", "否"})


class ValueProblem(ValueError):
    """One value that does not fit its field; `kind` becomes the error's `type`."""

    def __init__(self, message: str, kind: str = "value_error", index: int | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.index = index


def canonical(value: Any) -> bytes:
    """A byte string equal for equal JSON values (3 and 3.0 and True and 1 differ)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- one value ----------------------------------------------------------------------------


def parse(type_: str, value: Any) -> Any:
    """The stored form of one value of `type_`; None for a blank string (no value)."""
    if isinstance(value, str) and type_ not in ("text", "keyword"):
        value = unicodedata.normalize("NFKC", value).strip()
        if not value:
            return None
    if type_ == "text":
        text = _cleaned(clean_block, _string(value, "text"))
        if len(text) > MAX_TEXT_LENGTH:
            raise ValueProblem(f"text is longer than {MAX_TEXT_LENGTH} characters", "too_long")
        return text or None
    if type_ == "keyword":
        text = _cleaned(clean_line, _string(value, "keyword"))
        if len(text) > MAX_KEYWORD_LENGTH:
            raise ValueProblem(
                f"a keyword is at most {MAX_KEYWORD_LENGTH} characters; use a text field for "
                "longer values",
                "too_long",
            )
        return text or None
    if type_ == "integer":
        return _integer(value)
    if type_ == "number":
        return _number(value)
    if type_ == "date":
        return _date(value)
    if type_ == "boolean":
        return _boolean(value)
    library = type_.removeprefix("ref:")
    prefix = LIBRARIES[library]
    if not isinstance(value, str) or not is_id(value, prefix):
        raise ValueProblem(
            f"must be the ID of a record in {library}: {prefix}_ followed by 20 characters "
            f"(e.g. {prefix}_01hx3d7r6k9v2m8q4p5s)",
            "invalid_reference",
        )
    return value


def _cleaned(clean: Callable[[str], str], value: str) -> str:
    try:
        return clean(value)
    except ValueError as exc:
        raise ValueProblem(str(exc)) from None


def _string(value: Any, type_: str) -> str:
    if not isinstance(value, str):
        raise ValueProblem(f"must be a string ({type_}), not {_json_type(value)}", "type_error")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueProblem("must be an integer, not true/false", "type_error")
    integral = isinstance(value, float) and value.is_integer()
    if integral or (isinstance(value, str) and _INTEGER.match(value)):
        value = int(value)
    if not isinstance(value, int):
        raise ValueProblem(f"must be an integer (整数), not {short(value)}", "type_error")
    if abs(value) > MAX_SAFE_INTEGER:
        raise ValueProblem(f"must be between -{MAX_SAFE_INTEGER} and {MAX_SAFE_INTEGER}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueProblem("must be a number, not true/false", "type_error")
    if isinstance(value, str):
        try:
            value = float(value.replace(",", ""))
        except ValueError:
            raise ValueProblem(
                f"must be a number (数值), not {short(value)}", "type_error"
            ) from None
    if not isinstance(value, int | float):
        raise ValueProblem(f"must be a number (数值), not {_json_type(value)}", "type_error")
    number = float(value)
    if not math.isfinite(number):
        raise ValueProblem("must be a finite number", "type_error")
    return number


def _date(value: Any) -> str:
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ValueProblem(f"must be a date as YYYY-MM-DD (e.g. 2024-03-05), not {short(value)}")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ValueProblem(f"must be true or false (是/否), not {short(value)}", "type_error")


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return names.get(type(value), type(value).__name__)


def _enum_checked(field: FieldSpec, value: Any) -> Any:
    if field.enum is None or value is None:
        return value
    if any(value == v and type(value) is type(v) for v in field.enum_values()):
        return value
    allowed = ", ".join(
        f"{o.value} ({o.label})" if o.label else str(o.value) for o in field.enum[:20]
    )
    more = " …" if len(field.enum) > 20 else ""
    raise ValueProblem(f"{short(value)} is not allowed; use one of: {allowed}{more}", "enum")


def normalize(field: FieldSpec, value: Any) -> Any:
    """The stored form of a field's value (a list when `multiple`); None when absent."""
    if value is None:
        return None
    if field.multiple:
        if not isinstance(value, list):
            raise ValueProblem("expects a list of values (multiple)", "type_error")
        if len(value) > MAX_ITEMS:
            raise ValueProblem(f"at most {MAX_ITEMS} values", "too_long")
        items, seen = [], set()
        for index, item in enumerate(value):
            try:
                parsed = _enum_checked(field, parse(field.type, item)) if item is not None else None
            except ValueProblem as problem:
                problem.index = index
                raise
            key = canonical(parsed)
            if parsed is not None and key not in seen:  # duplicates are dropped, order kept
                seen.add(key)
                items.append(parsed)
        return items or None
    if isinstance(value, list | dict):
        raise ValueProblem(f"expects a single value, not {_json_type(value)}", "type_error")
    return _enum_checked(field, parse(field.type, value))


# --- a record's values --------------------------------------------------------------------


def validate_values(
    raw: dict[str, Any], fields: Sequence[FieldSpec]
) -> tuple[dict[str, Any], list[FieldError]]:
    """Values checked against the definition: (stored form, field-level errors)."""
    by_name = {f.name: f for f in fields}
    errors = [
        FieldError(
            ("body", "values", key),
            f"unknown field '{key[:64]}'; this dataset's fields are: {', '.join(by_name)}",
            "unknown_field",
        )
        for key in raw
        if key not in by_name
    ]
    clean: dict[str, Any] = {}
    for field in fields:
        try:
            value = normalize(field, raw.get(field.name))
        except ValueProblem as problem:
            loc = ("body", "values", field.name)
            errors.append(
                FieldError(
                    loc if problem.index is None else (*loc, problem.index),
                    problem.message,
                    problem.kind,
                )
            )
            continue
        if value is None:
            if field.required:
                errors.append(
                    FieldError(
                        ("body", "values", field.name),
                        f"required (必填): give a value for {field.label}",
                        "missing",
                    )
                )
            continue
        clean[field.name] = value
    return clean, errors


def references(
    values: dict[str, Any], fields: Sequence[FieldSpec]
) -> Iterator[tuple[FieldSpec, int | None, str]]:
    """Every `(field, index in the list or None, ID)` a record's ref fields point at."""
    for field in fields:
        if field.library is None or field.name not in values:
            continue
        value = values[field.name]
        if field.multiple:
            for index, item in enumerate(value):
                yield field, index, item
        else:
            yield field, None, value


def present(
    values: dict[str, Any], fields: Sequence[FieldSpec], *, include_restricted: bool
) -> dict[str, Any]:
    """Every field of the dataset in definition order, null when absent."""
    return {f.name: values.get(f.name) for f in fields if include_restricted or not f.restricted}


def labels(values: dict[str, Any], fields: Sequence[FieldSpec]) -> dict[str, Any]:
    """Labels of the enum values a record has, e.g. {"division": "数理"}."""
    result: dict[str, Any] = {}
    for field in fields:
        if not field.enum or field.name not in values or field.restricted:
            continue
        value = values[field.name]
        if field.multiple:
            result[field.name] = [field.enum_label(v) or str(v) for v in value]
        else:
            label = field.enum_label(value)
            if label:
                result[field.name] = label
    return result


# --- conversion when a definition changes -------------------------------------------------


def convert(value: Any, old: FieldSpec, new: FieldSpec) -> Any:
    """A stored value of `old` as a value of `new`, or ValueProblem if that would lose data.

    Lossless means the converted value converts back to exactly the stored one, so 3 becomes
    3.0 (integer → number) but "02020" does not become 2020 (keyword → integer).
    """
    items = value if old.multiple else [value]
    if not new.multiple and len(items) > 1:
        raise ValueProblem(
            f"has {len(items)} values but the field would hold only one", "not_single"
        )
    converted = [_enum_checked(new, _convert_one(item, old.type, new.type)) for item in items]
    return converted if new.multiple else converted[0]


def _convert_one(value: Any, old_type: str, new_type: str) -> Any:
    if old_type == new_type:
        return value
    try:
        result = parse(new_type, _as_input(value, new_type))
        back = parse(old_type, _as_input(result, old_type))
    except ValueProblem:
        raise ValueProblem(
            f"{short(value)} does not convert from {old_type} to {new_type}", "not_convertible"
        ) from None
    if result is None or canonical(back) != canonical(value):
        raise ValueProblem(
            f"{short(value)} would change converting from {old_type} to {new_type}", "lossy"
        )
    return result


def _as_input(value: Any, target_type: str) -> Any:
    if target_type not in STRING_TYPES or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)
