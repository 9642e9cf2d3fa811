"""A row as the record the service will receive, checked with the service's own schemas.

The services' Pydantic models (InstitutionFields, ExpertFields, OutcomeFields, and a
special database's field definitions) are imported, not copied, so a row the importer
accepts is one the service accepts, except for checks that need its database (a duplicate
USCC, a parent that does not exist), which the service reports per line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.cli.importer.linking import Linker
from services.cli.importer.mapping import EXTERNAL_ID
from services.cli.importer.mapping import Converted
from services.cli.importer.mapping import Profile
from services.datasets.schemas import FieldSpec
from services.datasets.values import validate_values

# Helper fields of a profile and the record field whose errors they explain.
HELPER_OF = {"affiliations": "affiliation", "institution_ids": "institutions"}


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a row (or one of its values) was rejected, as the rejects file shows it."""

    field: str
    value: Any
    message: str


@dataclass(frozen=True, slots=True)
class Issue:
    """An error as a schema or the service reports it: where, what, which kind."""

    loc: tuple[str | int, ...]
    msg: str
    type: str
    ctx: Mapping[str, Any] | None = None


async def assemble(
    profile: Profile,
    row: Converted,
    *,
    source: str,
    external_id: str,
    linker: Linker | None,
    where: tuple[str, int],
) -> tuple[dict[str, Any], list[Issue]]:
    """The NDJSON line for a row (names linked to IDs), and problems found while linking."""
    fields = {k: val for k, val in row.fields.items() if k != EXTERNAL_ID}
    issues: list[Issue] = []
    if profile.link is not None:
        await profile.link(fields, linker, where)
    if profile.nested:
        owner = fields.pop("owner_org", None)
        for name in profile.institution_refs:
            if name in fields:
                fields[name], problems = await _dataset_refs(name, fields[name], linker, where)
                issues += problems
        payload: dict[str, Any] = {profile.nested: fields}
        if owner is not None:
            payload["owner_org"] = owner
    else:
        payload = fields
    payload["source"] = source
    payload[EXTERNAL_ID] = external_id
    return payload, issues


def names_to_link(profile: Profile, row: Converted) -> list[str]:
    """The institution names `assemble` will link for this row (to prefetch them at once)."""
    fields = row.fields
    if profile.names_to_link is not None:
        return profile.names_to_link(fields)
    names: list[str] = []
    for ref in profile.institution_refs:
        value = fields.get(ref)
        names += [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    return names


async def _dataset_refs(
    name: str, value: Any, linker: Linker | None, where: tuple[str, int]
) -> tuple[Any, list[Issue]]:
    if linker is None:
        return value, []
    many = isinstance(value, list)
    resolved, issues = [], []
    for index, item in enumerate(value if many else [value]):
        if not isinstance(item, str):
            resolved.append(item)
            continue
        found = await linker.link(item, where)
        if found is None:
            issues.append(
                Issue(
                    ("values", name, *((index,) if many else ())),
                    f"no institution clearly matches {item[:60]!r}; give its ID (ins_…) or its "
                    "full official name",
                    "unmatched_institution",
                )
            )
        resolved.append(found or item)
    return (resolved if many else resolved[0]), issues


def validate(
    profile: Profile, payload: Mapping[str, Any], dataset_fields: Sequence[FieldSpec] = ()
) -> list[Issue]:
    """Errors the service's schema would report for this line (empty when it is valid)."""
    issues: list[Issue] = []
    try:
        profile.model.model_validate(payload)
    except ValidationError as exc:
        issues += [
            Issue(tuple(e["loc"]), str(e["msg"]).removeprefix("Value error, "), e["type"],
                  e.get("ctx"))
            for e in exc.errors()
        ]  # fmt: skip
    if profile.nested and isinstance(payload.get(profile.nested), dict):
        _clean, errors = validate_values(payload[profile.nested], dataset_fields)
        issues += [Issue(tuple(e.loc[1:]), e.msg, e.type) for e in errors]
    return issues


# --- messages -----------------------------------------------------------------------------


def problem_for(issue: Issue, profile: Profile, row: Converted, *, chinese: bool) -> Problem:
    """An issue as a rejects-file entry: the column it concerns, its raw value, the reason."""
    loc = issue.loc[1:] if profile.nested and issue.loc[:1] == (profile.nested,) else issue.loc
    name = str(loc[0]) if loc else _named_in(issue.msg, profile)
    name = HELPER_OF.get(name, name) if name not in row.cells else name
    header, raw = row.cells.get(name, (None, None))
    if header is None:
        rule = profile.rule(name)
        header = (rule.label if rule and rule.label and chinese else name) or ""
    message = describe(issue, profile, name, chinese=chinese)
    return Problem(header, raw, message)


def _named_in(message: str, profile: Profile) -> str:
    """The field a record-level message is about (`established_year 3000 is in the future`)."""
    found = [
        (match.start(), name)
        for name in profile.field_names
        if (match := re.search(rf"\b{re.escape(name)}\b", message))
    ]
    return min(found)[1] if found else ""


def describe(issue: Issue, profile: Profile, name: str, *, chinese: bool) -> str:
    """The reason in the file's language: Chinese for Chinese headers, else English."""
    if not chinese:
        return issue.msg
    ctx = issue.ctx or {}
    simple = {
        "missing": "必填，不能为空",
        "int_parsing": "应为整数",
        "int_type": "应为整数",
        "int_from_float": "应为整数",
        "float_parsing": "应为数值",
        "float_type": "应为数值",
        "bool_parsing": "应为“是”或“否”",
        "bool_type": "应为“是”或“否”",
        "string_type": "应为文本",
        "string_too_short": "不能为空",
        "list_type": "应为列表（多个值用分号或顿号分隔）",
        "extra_forbidden": "不是该库的字段，请删除该列或用 --map 映射到其他字段",
        "json_invalid": "不是有效的 JSON",
        "unmatched_institution": "未找到唯一匹配的机构，请填写机构 ID（ins_…）或完整名称",
    }
    if issue.type in simple:
        return simple[issue.type]
    bounds = {
        "greater_than_equal": ("应不小于", "ge"),
        "greater_than": ("应大于", "gt"),
        "less_than_equal": ("应不大于", "le"),
        "less_than": ("应小于", "lt"),
    }
    if issue.type in bounds and bounds[issue.type][1] in ctx:
        text, key = bounds[issue.type]
        return f"{text} {ctx[key]}"
    if issue.type == "string_too_long" and "max_length" in ctx:
        return f"过长：最多 {ctx['max_length']} 个字符"
    if issue.type == "too_long" and "max_length" in ctx:
        return f"项数过多：最多 {ctx['max_length']} 项"
    if issue.type in ("enum", "literal_error"):
        choices = profile.choices.get(name) or ctx.get("expected", "")
        return f"取值无效，可选：{choices}"
    prefixes = {
        "duplicate": "与已有记录重复",
        "unknown_reference": "引用的记录不存在",
        "reference": "引用的记录不存在",
        "invalid_reference": "应为记录 ID",
        "type_error": "类型不符",
        "unknown_field": "不是该数据库的字段",
        "conflict": "写入冲突，请重试",
        "duplicate_row": "重复行",
        "duplicate_key": "编号重复",
        "unreadable_row": "无法读取该行",
    }
    return f"{prefixes.get(issue.type, '取值无效')}：{issue.msg}"
