"""Which column feeds which field: default mappings for common Chinese headers, `--map`.

A `Profile` describes one library for the importer: its fields (and the few helper fields an
import may fill: an expert's institution as a name, an outcome's institutions as names), the
header names that usually hold them, how to clean each value, and which fields identify a
record when the file has no ID column. `map_columns` applies it to a file's headers.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel

from services.cli.importer import values as v
from services.datasets.schemas import FieldSpec, RecordFields
from services.experts.schemas import ExpertFields
from services.institutions.schemas import (
    STATUS_LABELS,
    TYPE_LABELS,
    InstitutionFields,
)
from services.kernel.visibility import VISIBILITY_LABELS
from services.outcomes.schemas import TYPE_LABELS as OUTCOME_TYPE_LABELS
from services.outcomes.schemas import OutcomeFields

EXTERNAL_ID = "external_id"
IGNORE = frozenset({"", "-", "_", "ignore"})

Convert = Callable[[Any], Any]


class MappingError(Exception):
    """The columns cannot be mapped (unknown target, required field without a column)."""


@dataclass(frozen=True)
class Rule:
    """One field an import can fill: how to clean its value, and headers that usually hold it."""

    name: str
    convert: Convert
    headers: tuple[str, ...] = ()
    required: bool = False
    label: str = ""  # how the rejects file names the field when no column holds it


@dataclass(frozen=True)
class Profile:
    library: str  # institutions, experts, outcomes, or datasets/<slug>
    path: str  # below /api/v1: institutions, …, datasets/<slug>/records
    model: type[BaseModel]
    rules: tuple[Rule, ...]
    # Fields hashed into the external ID when the file has no ID column (empty: all).
    key_fields: tuple[str, ...] = ()
    # Dataset fields are nested under `values` in the record.
    nested: str | None = None
    # Names of ref:institutions fields (datasets): resolved by name through the match API.
    institution_refs: frozenset[str] = frozenset()
    # Enum fields: their choices as the rejects file lists them (高校、科研院所、…).
    choices: Mapping[str, str] = field(default_factory=dict)

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    @property
    def field_names(self) -> list[str]:
        return [r.name for r in self.rules]


def header_key(header: str) -> str:
    """Headers compared without width, case, spaces or required-markers: `名称*` = `名称`."""
    text = unicodedata.normalize("NFKC", str(header)).casefold()
    return re.sub(r"[\s*:：]", "", text)


def _labels(*tables: Mapping[Any, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Label → value for every enum table given (the values map to themselves)."""
    result: dict[str, str] = {}
    for table in tables:
        for value, label in table.items():
            result[label] = str(value)
            result[str(value)] = str(value)
    result.update(extra or {})
    return result


def _enum(labels: Mapping[str, str]) -> Convert:
    return lambda value: v.enum(value, labels)


INSTITUTION_TYPES = _labels(
    TYPE_LABELS,
    extra={
        "大学": "university", "学院": "university", "高等院校": "university",
        "高等学校": "university", "院校": "university", "科研机构": "research_institute",
        "研究所": "research_institute", "研究院": "research_institute",
        "科研单位": "research_institute", "协会": "society", "全国学会": "society",
        "学术团体": "society", "公司": "enterprise", "政府": "government",
        "政府部门": "government", "医院": "hospital", "其它": "other",
    },
)  # fmt: skip
INSTITUTION_STATUS = _labels(STATUS_LABELS, extra={"撤销": "inactive", "合并": "merged"})
OUTCOME_TYPES = _labels(
    OUTCOME_TYPE_LABELS,
    extra={"报告": "research_report", "建议": "policy_brief", "政策简报": "policy_brief",
           "期刊论文": "paper", "会议论文": "paper", "学位论文": "paper", "图书": "book",
           "著作": "book", "其它": "other"},
)  # fmt: skip
VISIBILITY = _labels(VISIBILITY_LABELS, extra={"公共": "public", "合作": "partner"})

COMMON = (
    Rule(EXTERNAL_ID, v.key, ("编号", "ID", "外部编号", "记录编号", "external_id"), label="编号"),
    Rule("owner_org", v.code, ("owner_org",)),
)


def _choices(table: Mapping[Any, str]) -> str:
    return "、".join(f"{label}（{value}）" for value, label in table.items())


INSTITUTIONS = Profile(
    library="institutions",
    path="institutions",
    model=InstitutionFields,
    key_fields=("name",),
    choices={"type": _choices(TYPE_LABELS), "status": _choices(STATUS_LABELS)},
    rules=(
        *COMMON,
        Rule("name", v.text, ("单位名称", "机构名称", "名称", "单位", "机构", "学校名称",
                              "院校名称", "高校名称", "中文名称", "学校"), required=True),
        Rule("name_en", v.text, ("英文名称", "英文名", "外文名称", "english_name")),
        Rule("aliases", v.split_list, ("别名", "曾用名", "其他名称")),
        Rule("acronyms", v.split_list, ("简称", "缩写")),
        Rule("type", _enum(INSTITUTION_TYPES), ("机构类型", "单位类型", "类型", "类别",
                                                "单位性质", "机构性质")),
        Rule("parent_id", v.code, ("上级机构ID",)),
        Rule("region_code", v.code, ("行政区划代码", "区划代码", "地区代码")),
        Rule("province", v.text, ("省份", "省", "所在省份", "所在省", "省市", "所在地区")),
        Rule("city", v.text, ("城市", "所在城市", "市", "所在地")),
        Rule("website", v.code, ("网址", "官网", "网站", "主页", "官方网站", "url")),
        Rule("uscc", v.code, ("统一社会信用代码", "社会信用代码", "信用代码")),
        Rule("ror_id", v.code, ("ror", "ROR ID")),
        Rule("established_year", v.year, ("成立年份", "成立时间", "成立日期", "创建年份",
                                          "建校时间", "建校年份", "创办时间", "始建于")),
        Rule("status", _enum(INSTITUTION_STATUS), ("状态", "机构状态")),
        Rule("merged_into", v.code, ()),
        Rule("description", v.block, ("简介", "描述", "介绍", "机构简介")),
        Rule("tags", v.split_list, ("标签",)),
    ),
)  # fmt: skip

EXPERTS = Profile(
    library="experts",
    path="experts",
    model=ExpertFields,
    key_fields=("name", "affiliation"),
    rules=(
        *COMMON,
        Rule("name", v.text, ("姓名", "名字", "专家姓名"), required=True),
        Rule("name_en", v.text, ("英文名", "英文姓名", "拼音")),
        Rule("title", v.text, ("职称",)),
        Rule("honors", v.split_list, ("荣誉", "荣誉称号", "称号")),
        # An institution by name, linked through the match API (see linking.py).
        Rule("affiliation", v.text, ("工作单位", "单位", "所在单位", "任职单位", "单位名称",
                                     "机构", "所在机构", "工作机构"), label="工作单位"),
        Rule("department", v.text, ("院系", "部门", "所在院系", "所在部门"), label="院系"),
        Rule("position", v.text, ("职务",), label="职务"),
        Rule("affiliations", lambda x: x, ()),
        Rule("disciplines", v.split_list, ("学科", "学科代码", "学科领域")),
        Rule("research_areas", v.split_list, ("研究方向", "研究领域", "研究兴趣")),
        Rule("bio", v.block, ("简介", "个人简介", "简历")),
        Rule("orcid", v.code, ()),
        Rule("homepage", v.code, ("主页", "个人主页", "网址")),
        Rule("email", v.code, ("邮箱", "电子邮箱", "电子邮件", "邮件", "e-mail", "mail")),
        Rule("phone", v.code, ("电话", "联系电话", "手机", "手机号", "办公电话")),
    ),
)  # fmt: skip

OUTCOMES = Profile(
    library="outcomes",
    path="outcomes",
    model=OutcomeFields,
    key_fields=("title", "published_on"),
    choices={"type": _choices(OUTCOME_TYPE_LABELS), "visibility": _choices(VISIBILITY_LABELS)},
    rules=(
        *COMMON,
        Rule("title", v.text, ("题名", "标题", "题目", "名称", "成果名称", "论文题目",
                               "报告名称"), required=True),
        Rule("abstract", v.block, ("摘要", "内容摘要", "内容简介")),
        Rule("full_text", lambda x: x if isinstance(x, str) else v.text(x), ("全文", "正文")),
        Rule("type", _enum(OUTCOME_TYPES), ("类型", "成果类型", "类别", "文献类型")),
        Rule("series", v.text, ("系列", "丛书", "刊物", "刊名", "期刊", "出处")),
        # Names as printed (free-text authors; experts have no match API).
        Rule("authors", v.split_list, ("作者", "作者姓名", "著者", "完成人")),
        # Institutions by name, linked through the match API (see linking.py).
        Rule("institutions", v.split_list, ("单位", "机构", "完成单位", "作者单位",
                                            "所属机构", "发布机构"), label="单位"),
        Rule("institution_ids", v.split_list, ()),
        Rule("published_on", v.published, ("发表日期", "发布日期", "出版日期", "发表时间",
                                           "发布时间", "日期", "年份", "发表年份", "出版年份",
                                           "年度", "date", "year")),
        Rule("keywords", v.split_list, ("关键词", "关键字", "主题词")),
        Rule("disciplines", v.split_list, ("学科", "学科代码")),
        Rule("language", v.code, ("语言", "语种")),
        Rule("visibility", _enum(VISIBILITY), ("公开范围", "可见性", "可见范围")),
        Rule("doi", v.code, ()),
        Rule("url", v.code, ("链接", "网址")),
    ),
)  # fmt: skip

PROFILES = {p.library: p for p in (INSTITUTIONS, EXPERTS, OUTCOMES)}
LIBRARY_CHOICES = ("institutions", "experts", "outcomes", "datasets/SLUG")


def dataset_profile(slug: str, fields: Sequence[FieldSpec]) -> Profile:
    """A special database's profile from its definition: its labels are the headers."""
    rules = [*COMMON]
    for spec in fields:
        rules.append(
            Rule(
                spec.name,
                _dataset_convert(spec),
                (spec.label,),
                required=spec.required,
                label=spec.label,
            )
        )
    return Profile(
        library=f"datasets/{slug}",
        path=f"datasets/{slug}/records",
        model=RecordFields,
        rules=tuple(rules),
        nested="values",
        institution_refs=frozenset(s.name for s in fields if s.type == "ref:institutions"),
    )


def _dataset_convert(spec: FieldSpec) -> Convert:
    one: Convert = {
        "text": v.block,
        "keyword": v.text,
        "integer": v.integer,
        "number": v.number,
        "date": v.day,
        "boolean": v.boolean,
    }.get(spec.type, v.code)
    if spec.enum:
        labels = {o.label: o.value for o in spec.enum if o.label}
        labels |= {str(o.value): o.value for o in spec.enum}
        plain = one
        one = lambda x: labels.get(v.nfkc(x), plain(x)) if isinstance(x, str) else plain(x)  # noqa: E731
    if spec.multiple:
        return lambda x: None if x is None else [one(i) for i in v.split_list(x) or []]
    return one


# --- columns ----------------------------------------------------------------------------


def parse_overrides(specs: Iterable[str]) -> dict[str, str]:
    """`--map 单位名称=name,英文=name_en` (repeatable); `列=` or `列=-` ignores a column."""
    overrides: dict[str, str] = {}
    for spec in specs:
        for part in spec.split(","):
            if not part.strip():
                continue
            header, sep, target = part.partition("=")
            if not sep or not header.strip():
                raise MappingError(f"--map {part!r}: write COLUMN=FIELD, e.g. --map 单位名称=name")
            overrides[header.strip()] = target.strip()
    return overrides


@dataclass
class ColumnMap:
    columns: dict[str, str] = field(default_factory=dict)  # header → field
    unmapped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def header_of(self, field_name: str) -> str | None:
        return next((h for h, f in self.columns.items() if f == field_name), None)

    @property
    def has_id_column(self) -> bool:
        return EXTERNAL_ID in self.columns.values()


def map_columns(
    headers: Sequence[str], profile: Profile, overrides: Mapping[str, str] | None = None
) -> ColumnMap:
    """Each header's field: `--map` first, then the defaults, then the field's own name."""
    overrides = {header_key(h): t for h, t in (overrides or {}).items()}
    names = set(profile.field_names)
    defaults: dict[str, str] = {}
    for rule in profile.rules:
        for alias in (*rule.headers, rule.name):
            defaults.setdefault(header_key(alias), rule.name)
    result = ColumnMap()
    for header in headers:
        key = header_key(header)
        if key in overrides:
            target = overrides[key]
            if target.lower() in IGNORE:
                result.ignored.append(header)
                continue
            if target not in names:
                raise MappingError(
                    f"--map {header}={target}: {profile.library} has no field {target!r}; "
                    f"fields: {', '.join(sorted(names))}"
                )
        else:
            target = defaults.get(key, "")
        if not target or target in result.columns.values():
            result.unmapped.append(header)
            continue
        result.columns[header] = target
    unknown_overrides = set(overrides) - {header_key(h) for h in headers}
    if unknown_overrides:
        raise MappingError(
            f"--map names columns the file does not have: {', '.join(sorted(unknown_overrides))}"
            f"; its columns are: {', '.join(headers)}"
        )
    missing = [r for r in profile.rules if r.required and r.name not in result.columns.values()]
    if missing:
        wanted = "; ".join(f"{r.name} ({' / '.join(r.headers[:3]) or r.label})" for r in missing)
        raise MappingError(
            f"no column for the required field(s) {wanted}. The file's columns are: "
            f"{', '.join(headers)}. Rename the column or map it, e.g. --map 列名={missing[0].name}"
        )
    return result


# --- rows -------------------------------------------------------------------------------


@dataclass
class Converted:
    """A row's cleaned fields, and for each field the column and raw cell it came from."""

    fields: dict[str, Any]
    cells: dict[str, tuple[str, Any]]


def convert(cells: Mapping[str, Any], columns: ColumnMap, profile: Profile) -> Converted:
    fields: dict[str, Any] = {}
    sources: dict[str, tuple[str, Any]] = {}
    for header, target in columns.columns.items():
        raw = cells.get(header)
        rule = profile.rule(target)
        assert rule is not None
        value = rule.convert(raw)
        sources[target] = (header, raw)
        if not v.is_blank(value):
            fields[target] = value
    return Converted(fields, sources)


def content_key(profile: Profile, fields: Mapping[str, Any]) -> str:
    """A stable external ID from the fields that identify the record (`h-` + 24 hex)."""
    names = profile.key_fields or tuple(
        sorted(f for f in fields if f not in (EXTERNAL_ID, "owner_org"))
    )
    identity = [profile.library, *[[n, _comparable(fields.get(n))] for n in names]]
    digest = hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"h-{digest[:24]}"


def _comparable(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", value)).strip().casefold()
    if isinstance(value, list):
        return [_comparable(x) for x in value]
    return value
