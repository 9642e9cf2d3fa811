"""Typed values and lossless conversion (pure logic, no database)."""

from __future__ import annotations

from typing import Any

import pytest

from services.datasets.compatibility import DefinitionChange
from services.datasets.schemas import FieldSpec
from services.datasets.values import ValueProblem
from services.datasets.values import convert
from services.datasets.values import normalize
from services.datasets.values import parse
from services.datasets.values import validate_values


def spec(type_: str, **flags: Any) -> FieldSpec:
    return FieldSpec(name="f", label="字段", type=type_, **flags)


@pytest.mark.parametrize(
    ("type_", "given", "stored"),
    [
        ("integer", "２０２３", 2023),  # full-width digits, as pasted from a document
        ("integer", 2023.0, 2023),
        ("number", "1,000.5", 1000.5),
        ("number", 3, 3.0),
        ("date", "2024-02-29", "2024-02-29"),
        ("boolean", "否", False),
        ("boolean", 1, True),
        ("keyword", "  国家  自然科学 ", "国家 自然科学"),
        ("text", "第一段\n\n第二段", "第一段\n\n第二段"),
        ("keyword", "   ", None),
        ("ref:institutions", " ins_0123456789abcdefghjk ", "ins_0123456789abcdefghjk"),
    ],
)
def test_parse_accepts_what_people_type(type_: str, given: Any, stored: Any) -> None:
    result = parse(type_, given)
    assert result == stored and type(result) is type(stored)


@pytest.mark.parametrize(
    ("type_", "given"),
    [
        ("integer", True),
        ("integer", 2.5),
        ("integer", 2**53),
        ("number", "NaN"),
        ("number", "inf"),
        ("date", "2023-02-29"),
        ("date", "2023/02/01"),
        ("boolean", "maybe"),
        ("keyword", 42),
        ("text", "bidi\u202eoverride"),
        ("ref:institutions", "exp_0123456789abcdefghjk"),
        ("ref:experts", "exp_0123456789abcdefghji"),  # 'i' is not in the ID alphabet
    ],
)
def test_parse_refuses_values_of_the_wrong_type(type_: str, given: Any) -> None:
    with pytest.raises(ValueProblem):
        parse(type_, given)


def test_multiple_values_are_deduplicated_and_errors_point_at_the_item() -> None:
    field = spec("keyword", multiple=True, enum=[{"value": "a"}, {"value": "b"}])
    assert normalize(field, ["a", "b", "a", None]) == ["a", "b"]
    with pytest.raises(ValueProblem) as caught:
        normalize(field, ["a", "c"])
    assert caught.value.index == 1 and caught.value.kind == "enum"
    values, errors = validate_values({"f": ["a", "c"]}, [field])
    assert values == {} and [e.loc for e in errors] == [("body", "values", "f", 1)]


@pytest.mark.parametrize(
    ("old", "new", "value", "converted"),
    [
        (spec("integer"), spec("number"), 3, 3.0),
        (spec("number"), spec("integer"), 3.0, 3),
        (spec("keyword"), spec("text"), "A04", "A04"),
        (spec("integer"), spec("keyword"), 2020, "2020"),
        (spec("keyword"), spec("integer"), "2020", 2020),
        (spec("boolean"), spec("keyword"), True, "true"),
        (spec("date"), spec("keyword"), "2024-03-05", "2024-03-05"),
        (spec("keyword"), spec("integer", multiple=True), "7", [7]),
        (spec("integer", multiple=True), spec("integer"), [7], 7),
    ],
)
def test_lossless_conversions(old: FieldSpec, new: FieldSpec, value: Any, converted: Any) -> None:
    result = convert(value, old, new)
    assert result == converted and type(result) is type(converted)


@pytest.mark.parametrize(
    ("old", "new", "value", "kind"),
    [
        (spec("number"), spec("integer"), 2.5, "not_convertible"),
        (spec("keyword"), spec("integer"), "02020", "lossy"),  # the leading zero would go
        (spec("text"), spec("keyword"), "第一行\n第二行", "lossy"),
        (spec("keyword"), spec("boolean"), "yes", "lossy"),
        (spec("keyword"), spec("date"), "2024-3-5", "not_convertible"),
        (spec("integer", multiple=True), spec("integer"), [1, 2], "not_single"),
        (spec("keyword"), spec("keyword", enum=[{"value": "a"}]), "b", "enum"),
        (spec("ref:experts"), spec("ref:outcomes"), "exp_0123456789abcdefghjk", "not_convertible"),
    ],
)
def test_lossy_conversions_are_refused(
    old: FieldSpec, new: FieldSpec, value: Any, kind: str
) -> None:
    with pytest.raises(ValueProblem) as caught:
        convert(value, old, new)
    assert caught.value.kind == kind


def test_definition_change_reports_removed_and_newly_required_fields() -> None:
    old = [
        FieldSpec(name="a", label="甲", type="keyword"),
        FieldSpec(name="b", label="乙", type="integer"),
    ]
    new = [old[0], FieldSpec(name="c", label="丙", type="keyword", required=True)]
    values, problems = DefinitionChange(old, new, drop_removed=False).migrate({"a": "x", "b": 1})
    assert values == {"a": "x"}
    assert sorted((name, p.kind) for name, p in problems) == [("b", "removed"), ("c", "missing")]
    dropping = DefinitionChange(old, new[:1], drop_removed=True)
    assert dropping.migrate({"a": "x", "b": 1}) == ({"a": "x"}, [])
