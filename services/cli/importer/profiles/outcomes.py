"""How `zhihui import outcomes` reads a spreadsheet: headers, cleaning, record keys, and the
institutions named in words, linked to institution records."""

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
from services.kernel.visibility import VISIBILITY_LABELS
from services.outcomes.library import LIBRARY
from services.outcomes.schemas import TYPE_LABELS
from services.outcomes.schemas import OutcomeFields

# Kept with an author without one: the institutions as printed, at most this long.
MAX_AFFILIATION_TEXT = 300


def institution_names(fields: Mapping[str, Any]) -> list[str]:
    return [str(name) for name in fields.get("institutions") or ()]


async def link_institutions(
    fields: dict[str, Any], linker: Linker | None, where: tuple[str, int]
) -> None:
    authors = fields.get("authors")
    if isinstance(authors, list):
        fields["authors"] = [a if isinstance(a, dict) else {"name": str(a)} for a in authors]
    names = fields.pop("institutions", None)
    if not names:
        return
    ids = list(fields.get("institution_ids") or [])
    unmatched = []
    for name in names:
        found = await linker.link(str(name), where) if linker else None
        if found is None:
            unmatched.append(str(name))
        elif found not in ids:
            ids.append(found)
    if ids:
        fields["institution_ids"] = ids
    if unmatched and fields.get("authors"):
        # Kept as the byline's affiliation as printed (作者单位), for authors without one.
        printed = "；".join(str(n) for n in names)[:MAX_AFFILIATION_TEXT]
        for author in fields["authors"]:
            author.setdefault("affiliation", printed)


OUTCOME_TYPES = labels_of(
    TYPE_LABELS,
    extra={"报告": "research_report", "建议": "policy_brief", "政策简报": "policy_brief",
           "期刊论文": "paper", "会议论文": "paper", "学位论文": "paper", "图书": "book",
           "著作": "book", "其它": "other"},
)  # fmt: skip

PROFILE = Profile(
    library=LIBRARY.name,
    path=LIBRARY.name,
    model=OutcomeFields,
    key_fields=("title", "published_on"),
    choices={"type": choices_of(TYPE_LABELS), "visibility": choices_of(VISIBILITY_LABELS)},
    rules=(
        *COMMON,
        Rule("title", v.text, ("题名", "标题", "题目", "名称", "成果名称", "论文题目",
                               "报告名称"), required=True),
        Rule("abstract", v.block, ("摘要", "内容摘要", "内容简介")),
        Rule("full_text", lambda x: x if isinstance(x, str) else v.text(x), ("全文", "正文")),
        Rule("type", enum_of(OUTCOME_TYPES), ("类型", "成果类型", "类别", "文献类型")),
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
        Rule("visibility", enum_of(VISIBILITY), ("公开范围", "可见性", "可见范围")),
        Rule("doi", v.code, ()),
        Rule("url", v.code, ("链接", "网址")),
    ),
    names_to_link=institution_names,
    link=link_institutions,
)  # fmt: skip
