"""Highlights: query tokens marked in the original text, HTML escaped, bounded fragments."""

from __future__ import annotations

from services.gateway.search.highlight import MAX_FRAGMENTS
from services.gateway.search.highlight import highlight


def test_marks_tokens_in_original_text_and_escapes_html() -> None:
    source = {"title": "人工智能<script>治理</script>研究", "abstract": None}
    marked = highlight(source, ["title", "abstract"], ["人工智能", "治理"])
    assert marked == {"title": ["<em>人工智能</em>&lt;script&gt;<em>治理</em>&lt;/script&gt;研究"]}


def test_case_and_width_insensitive_and_single_han_characters_ignored() -> None:
    marked = highlight({"title": "ＡＩ 与 Deep Learning"}, ["title"], ["ai", "deep", "与"])
    assert marked["title"] == ["<em>ＡＩ</em> 与 <em>Deep</em> Learning"]


def test_long_text_gives_bounded_fragments_around_matches() -> None:
    text = ("无关内容。" * 40 + "碳中和路径") * 5
    fragments = highlight({"abstract": text}, ["abstract"], ["碳中和"])["abstract"]
    assert 1 <= len(fragments) <= MAX_FRAGMENTS
    assert all("<em>碳中和</em>" in f and len(f) < 200 for f in fragments)
    assert highlight({"abstract": text}, ["abstract"], []) == {}
