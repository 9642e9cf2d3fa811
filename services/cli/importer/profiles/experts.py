"""How `zhihui import experts` reads a spreadsheet: headers, cleaning, record keys, and the
work unit (工作单位) named in words, linked to an institution."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.cli.importer import values as v
from services.cli.importer.linking import Linker
from services.cli.importer.mapping import COMMON
from services.cli.importer.mapping import Profile
from services.cli.importer.mapping import Rule
from services.experts.library import LIBRARY
from services.experts.schemas import ExpertFields


def affiliation_names(fields: Mapping[str, Any]) -> list[str]:
    name = fields.get("affiliation")
    return [] if name is None or "affiliations" in fields else [str(name)]


async def link_affiliation(
    fields: dict[str, Any], linker: Linker | None, where: tuple[str, int]
) -> None:
    name = fields.pop("affiliation", None)
    department = fields.pop("department", None)
    position = fields.pop("position", None)
    if name is None or "affiliations" in fields:
        return
    institution = await linker.link(str(name), where) if linker else None
    if institution is not None:
        post = {"institution_id": institution, "department": department, "position": position}
        fields["affiliations"] = [{k: x for k, x in post.items() if x is not None}]
        return
    # No institution record to point at: keep what the file says in the biography.
    written = "，".join(str(x) for x in (name, department, position) if x)
    bio = fields.get("bio")
    fields["bio"] = f"{bio}\n工作单位：{written}" if bio else f"工作单位：{written}"


PROFILE = Profile(
    library=LIBRARY.name,
    path=LIBRARY.name,
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
    names_to_link=affiliation_names,
    link=link_affiliation,
)  # fmt: skip
