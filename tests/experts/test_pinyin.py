"""Name pinyin: derived on every write, with surname readings for common polyphones."""

from __future__ import annotations

import httpx
import pytest

from services.kernel.pinyin import person_name_pinyin
from services.kernel.pinyin import text_pinyin
from tests.actors import ADMIN
from tests.experts.helpers import create


@pytest.mark.parametrize(
    ("name", "pinyin", "initials"),
    [
        ("张三", "zhang san", "zs"),
        ("单田芳", "shan tian fang", "stf"),  # not dan
        ("曾国藩", "zeng guo fan", "zgf"),  # not ceng
        ("解缙", "xie jin", "xj"),  # not jie
        ("仇英", "qiu ying", "qy"),  # not chou
        ("查良镛", "zha liang yong", "zly"),
        ("尉迟恭", "yu chi gong", "ycg"),  # compound surname
        ("长孙无忌", "zhang sun wu ji", "zswj"),
        ("王长江", "wang chang jiang", "wcj"),  # polyphones in the given name by phrase
        ("吕布", "lv bu", "lb"),  # ü typed as v
        ("阿沛·阿旺晋美", "a pei a wang jin mei", "apawjm"),  # no Han surname rule
        ("Ｚｈａｎｇ San", "zhang san", "zs"),  # full-width Latin
    ],
)
def test_person_name_pinyin(name: str, pinyin: str, initials: str) -> None:
    result = person_name_pinyin(name)
    assert (result.text, result.initials) == (pinyin, initials)


def test_surname_readings_apply_only_at_the_front() -> None:
    # 单 inside a given name keeps its everyday reading.
    assert person_name_pinyin("王单").text == "wang dan"
    assert text_pinyin("清华大学").initials == "qhdx"


async def test_pinyin_is_derived_on_create_and_follows_name_changes(
    client: httpx.AsyncClient,
) -> None:
    record = await create(client, name="单雄信")
    assert (record["name_pinyin"], record["name_initials"]) == ("shan xiong xin", "sxx")
    renamed = await client.patch(
        f"/experts/{record['id']}", json={"name": "仇十洲"}, headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name_pinyin"] == "qiu shi zhou"
    assert renamed.json()["name_initials"] == "qsz"
