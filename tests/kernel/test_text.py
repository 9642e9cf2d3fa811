"""The one text rule for keys, names, one-line and long text (pure logic)."""

from __future__ import annotations

import pytest

from services.kernel.text import TextRefused
from services.kernel.text import clean_block
from services.kernel.text import clean_key
from services.kernel.text import clean_line
from services.kernel.text import clean_name

# The look-alikes of "17" a partner's spreadsheet really produces: full-width digits, a
# zero-width space, a byte-order mark, a no-break space, padding, an ideographic space.
LOOK_ALIKES_OF_17 = [
    "17",
    "１７",
    "17\u200b",
    "\ufeff17",
    "17\u00a0",
    "  17 ",
    "\u300017",
    "1\u200d7",
]


@pytest.mark.parametrize("value", LOOK_ALIKES_OF_17)
def test_look_alike_keys_are_one_key(value: str) -> None:
    assert clean_key(value) == "17"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x\ty", "x y"),  # a tab is whitespace, here as in a URL or a bulk line
        ("x\r\n  y", "x y"),
        ("ＣＡＳＴ－２０２４", "CAST-2024"),
        ("ｄｏｉ：10.1234", "doi:10.1234"),
    ],
)
def test_keys_collapse_whitespace_and_fold_compatibility_forms(value: str, expected: str) -> None:
    assert clean_key(value) == expected


@pytest.mark.parametrize(
    "value",
    ["a\x00b", "a\x7fb", "a\x1bb", "a\x9bb", "a\u202eb", "a\u2066b", "a\u200fb", "a\u061cb"],
)
def test_control_and_bidi_characters_are_refused_everywhere(value: str) -> None:
    for clean in (clean_key, clean_name, clean_line, clean_block):
        with pytest.raises(TextRefused) as refused:
            clean(value)
        assert "U+" in str(refused.value) and "remove it" in str(refused.value)


def test_names_fold_letters_and_digits_but_keep_chinese_punctuation() -> None:
    assert clean_name("清华大学（深圳）") == "清华大学（深圳）"
    assert clean_name("Ｔｓｉｎｇｈｕａ　Ｕｎｉｖｅｒｓｉｔｙ") == "Tsinghua University"
    assert clean_name("第１７研究所，北京") == "第17研究所，北京"
    assert clean_name("中国\u200b科学院") == "中国科学院"


def test_decomposed_accents_are_composed_in_names_and_lines() -> None:
    decomposed = "Jose\u0301 Rami\u0301rez"
    assert clean_name(decomposed) == "José Ramírez" == clean_line(decomposed)
    assert len(clean_line(decomposed)) == len("José Ramírez")


def test_one_line_text_keeps_what_compatibility_folding_would_lose() -> None:
    # A title keeps its subscripts and superscripts; invisible characters still go.
    assert clean_line("O₃与PM₂.₅协同\u200b控制（2023）") == "O₃与PM₂.₅协同控制（2023）"


def test_long_text_is_stored_as_written_except_its_ends() -> None:
    report = "\u3000\u3000各位代表：\r\n\r\n\u3000\u3000现在，我代表国务院……\t完\n"
    assert clean_block("  " + report + "  ") == report.strip()
    assert clean_block("第一段\n\n第二段") == "第一段\n\n第二段"
    for refused in ("a\x0bb", "a\x0cb", "a\x85b"):
        with pytest.raises(TextRefused):
            clean_block(refused)


def test_text_cleaning_collapses_whitespace_and_refuses_control_characters() -> None:
    assert clean_line("  清华\u3000 大学\n ") == "清华 大学"
    assert clean_block("第一段\n\n第二段\t") == "第一段\n\n第二段"
    for bad in ("a\x00b", "evil\u202etxt", "x\x1b[31m"):
        with pytest.raises(ValueError, match="control"):
            clean_line(bad)
    with pytest.raises(ValueError):
        clean_block("nul\x00")
