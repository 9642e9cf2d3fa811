"""Pinyin of Chinese text and of personal names (for search, sorting and initials like `zs`)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from pypinyin import Style
from pypinyin import lazy_pinyin

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[a-z0-9]+")
# Minority and transliterated foreign names separate their parts with a middle dot; they have
# no Han surname at the front, so surname readings must not apply.
_NAME_SEPARATOR = re.compile(r"[·・•‧]")

# Surnames whose reading differs from the character's everyday reading (pypinyin's default
# would give e.g. 单 dan, 曾 ceng, 解 jie, 仇 chou). Only unambiguous surname readings are
# listed: 乐 is read both le and yue as a surname, so it keeps pypinyin's choice.
SURNAME_READINGS: dict[str, str] = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "仇": "qiu",
    "查": "zha",
    "区": "ou",
    "朴": "piao",
    "盖": "ge",
    "翟": "zhai",
    "覃": "qin",
    "缪": "miao",
    "种": "chong",
    "薄": "bo",
    "秘": "bi",
    "召": "shao",
    "繁": "po",
    "员": "yun",
    "洗": "xian",
    "句": "gou",
    "都": "du",
    "黑": "he",
    "折": "she",
    "能": "nai",
    "隗": "wei",
    "佴": "nai",
    "蕃": "pi",
    "阚": "kan",
    "长": "chang",
}

# Compound surnames whose reading differs from their characters read one by one.
COMPOUND_SURNAME_READINGS: dict[str, tuple[str, ...]] = {
    "尉迟": ("yu", "chi"),
    "万俟": ("mo", "qi"),
    "长孙": ("zhang", "sun"),
    "澹台": ("tan", "tai"),
    "乐正": ("yue", "zheng"),
}


@dataclass(frozen=True, slots=True)
class Pinyin:
    """Toneless syllables (`zhang san`, ü written `v` as people type it) and initials (`zs`)."""

    syllables: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.syllables)

    @property
    def initials(self) -> str:
        return "".join(s[0] for s in self.syllables)


def _words(chunk: str) -> list[str]:
    # Non-Han runs (Latin names, digits) become lower-case words; punctuation is dropped.
    return _WORD.findall(chunk.lower())


def _syllables(text: str) -> list[str]:
    return [
        s
        for s in lazy_pinyin(
            text,
            style=Style.NORMAL,
            # pypinyin also takes a list of words from `errors`; its stubs allow only str.
            errors=_words,  # type: ignore[arg-type]
            strict=False,
        )
        if s and _WORD.fullmatch(s)
    ]


def _normalized(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def text_pinyin(text: str) -> Pinyin:
    """Pinyin of any text (institution names, keywords); polyphones resolved by phrase."""
    return Pinyin(tuple(_syllables(_normalized(text))))


def person_name_pinyin(name: str) -> Pinyin:
    """Pinyin of a personal name, reading a leading Han surname as a surname (曾 zeng, 单 shan)."""
    text = _normalized(name)
    if not text or not _HAN.match(text) or _NAME_SEPARATOR.search(text):
        return Pinyin(tuple(_syllables(text)))
    for surname, reading in COMPOUND_SURNAME_READINGS.items():
        if text.startswith(surname):
            return Pinyin((*reading, *_syllables(text[len(surname) :])))
    first = text[0]
    if first in SURNAME_READINGS:
        # The given name is converted on its own so the surname cannot join a phrase with it.
        return Pinyin((SURNAME_READINGS[first], *_syllables(text[1:])))
    return Pinyin((*_syllables(first), *_syllables(text[1:])))
