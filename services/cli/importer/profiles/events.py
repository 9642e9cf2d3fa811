"""How `zhihui import events` reads a spreadsheet: headers, cleaning, record keys, organisers
named in words (linked to institutions), and speakers, hosts and attendees by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.cli.importer import values as v
from services.cli.importer.linking import Linker
from services.cli.importer.mapping import COMMON
from services.cli.importer.mapping import VISIBILITY
from services.cli.importer.mapping import Profile
from services.cli.importer.mapping import Rule
from services.cli.importer.mapping import choices_of
from services.cli.importer.mapping import enum_of
from services.cli.importer.mapping import labels_of
from services.events.library import LIBRARY
from services.events.schemas import KIND_LABELS
from services.events.schemas import EventFields
from services.kernel.visibility import VISIBILITY_LABELS

EVENT_KINDS = labels_of(
    KIND_LABELS,
    extra={"会议": "symposium", "座谈": "symposium", "研讨": "seminar", "沙龙": "seminar",
           "报告会": "forum", "峰会": "forum", "大会": "forum", "考察": "survey",
           "调查": "survey", "实地调研": "survey", "讲座": "training", "其它": "other"},
)  # fmt: skip
# Who a name column lists, in the role they take.
ROLE_COLUMNS = {"speakers": "speaker", "hosts": "host", "attendees": "attendee"}
ORGANISER_COLUMNS = {"organisers": "organiser_ids", "co_organisers": "co_organiser_ids"}


def organiser_names(fields: Mapping[str, Any]) -> list[str]:
    return [str(name) for column in ORGANISER_COLUMNS for name in fields.get(column) or ()]


async def link_names(fields: dict[str, Any], linker: Linker | None, where: tuple[str, int]) -> None:
    """Organisers named in words as institution IDs (an unmatched one is kept in the
    summary, as the file says it); people as participants in their column's role."""
    unmatched: list[str] = []
    for column, target in ORGANISER_COLUMNS.items():
        ids = list(fields.get(target) or [])
        for name in fields.pop(column, None) or ():
            found = await linker.link(str(name), where) if linker else None
            if found is None:
                unmatched.append(str(name))
            elif found not in ids:
                ids.append(found)
        if ids:
            fields[target] = ids
    if unmatched:
        written = "主办/承办：" + "、".join(unmatched)
        summary = fields.get("summary")
        fields["summary"] = f"{summary}\n{written}" if summary else written
    participants = list(fields.get("participants") or [])
    for column, role in ROLE_COLUMNS.items():
        participants += [
            {"name": str(name), "role": role} for name in fields.pop(column, None) or ()
        ]
    if participants:
        fields["participants"] = participants


PROFILE = Profile(
    library=LIBRARY.name,
    path=LIBRARY.name,
    model=EventFields,
    key_fields=("title", "starts_on"),
    choices={"kind": choices_of(KIND_LABELS), "visibility": choices_of(VISIBILITY_LABELS)},
    rules=(
        *COMMON,
        Rule("title", v.text, ("活动名称", "会议名称", "名称", "标题", "活动主题", "题目"),
             required=True),
        Rule("kind", enum_of(EVENT_KINDS), ("活动类型", "类型", "形式", "活动形式")),
        Rule("series", v.text, ("系列", "系列活动", "品牌活动", "所属系列")),
        Rule("series_number", v.integer, ("期次", "期数", "第几期")),
        Rule("starts_on", v.day, ("开始日期", "日期", "举办日期", "活动日期", "时间",
                                  "举办时间", "活动时间", "召开时间"), required=True),
        Rule("ends_on", v.day, ("结束日期", "截止日期")),
        Rule("region_code", v.code, ("行政区划代码", "区划代码", "地区代码")),
        Rule("province", v.text, ("省份", "省", "举办省份")),
        Rule("city", v.text, ("城市", "举办城市", "市")),
        Rule("venue", v.text, ("地点", "举办地点", "会议地点", "活动地点", "场地")),
        # Institutions by name, linked through the match API (see linking.py).
        Rule("organisers", v.split_list, ("主办单位", "主办", "主办方"), label="主办单位"),
        Rule("co_organisers", v.split_list, ("承办单位", "协办单位", "承办", "协办"),
             label="承办单位"),
        Rule("organiser_ids", v.split_list, ()),
        Rule("co_organiser_ids", v.split_list, ()),
        # People by name as announced (experts have no match API).
        Rule("speakers", v.split_list, ("主讲人", "主讲嘉宾", "报告人", "主讲"), label="主讲人"),
        Rule("hosts", v.split_list, ("主持人", "主持"), label="主持人"),
        Rule("attendees", v.split_list, ("参会专家", "参会人员", "与会专家", "嘉宾"),
             label="参会专家"),
        Rule("participants", lambda x: x, ()),
        Rule("topics", v.split_list, ("议题", "主题", "研讨主题")),
        Rule("keywords", v.split_list, ("关键词", "关键字")),
        Rule("disciplines", v.split_list, ("学科", "学科代码")),
        Rule("summary", v.block, ("简介", "活动简介", "内容", "会议纪要", "综述", "纪要")),
        Rule("outcome_ids", v.split_list, ("成果编号",)),
        Rule("visibility", enum_of(VISIBILITY), ("公开范围", "可见性", "可见范围")),
        Rule("url", v.code, ("链接", "网址", "报道链接")),
    ),
    names_to_link=organiser_names,
    link=link_names,
)  # fmt: skip
