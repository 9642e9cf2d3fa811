"""How `zhihui import institutions` reads a spreadsheet: headers, cleaning, record keys."""

from __future__ import annotations

from services.cli.importer import values as v
from services.cli.importer.mapping import COMMON
from services.cli.importer.mapping import Profile
from services.cli.importer.mapping import Rule
from services.cli.importer.mapping import choices_of
from services.cli.importer.mapping import enum_of
from services.cli.importer.mapping import labels_of
from services.institutions.library import LIBRARY
from services.institutions.schemas import STATUS_LABELS
from services.institutions.schemas import TYPE_LABELS
from services.institutions.schemas import InstitutionFields

INSTITUTION_TYPES = labels_of(
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
INSTITUTION_STATUS = labels_of(STATUS_LABELS, extra={"撤销": "inactive", "合并": "merged"})

PROFILE = Profile(
    library=LIBRARY.name,
    path=LIBRARY.name,
    model=InstitutionFields,
    key_fields=("name",),
    choices={"type": choices_of(TYPE_LABELS), "status": choices_of(STATUS_LABELS)},
    rules=(
        *COMMON,
        Rule("name", v.text, ("单位名称", "机构名称", "名称", "单位", "机构", "学校名称",
                              "院校名称", "高校名称", "中文名称", "学校"), required=True),
        Rule("name_en", v.text, ("英文名称", "英文名", "外文名称", "english_name")),
        Rule("aliases", v.split_list, ("别名", "曾用名", "其他名称")),
        Rule("acronyms", v.split_list, ("简称", "缩写")),
        Rule("type", enum_of(INSTITUTION_TYPES), ("机构类型", "单位类型", "类型", "类别",
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
        Rule("status", enum_of(INSTITUTION_STATUS), ("状态", "机构状态")),
        Rule("merged_into", v.code, ()),
        Rule("description", v.block, ("简介", "描述", "介绍", "机构简介")),
        Rule("tags", v.split_list, ("标签",)),
    ),
)  # fmt: skip
