"""The Chinese text-analysis pipeline shared by both search backends (pure logic, no servers)."""

from __future__ import annotations

import json
import re
import threading
from itertools import islice

import pytest

from services.gateway.search.analysis import ES_ANALYZER
from services.gateway.search.analysis import TOKEN_CHARS
from services.gateway.search.analysis import Analyzer
from services.gateway.search.analysis import AnalyzerOptions
from services.gateway.search.analysis import get_analyzer
from services.gateway.search.analysis import normalize
from tests.data import SHARED_DATA
from tests.data import universities

# A token is letters/digits (any script) with an optional decimal point: never whitespace,
# never a Lucene/ES or FTS5 operator character.
TOKEN = re.compile(rf"[^\W_]+(?:[{re.escape(TOKEN_CHARS)}][^\W_]+)*")
CSL_FILE = SHARED_DATA / "csl-benchmark" / "csl_benchmark_2000.jsonl"


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return get_analyzer()


@pytest.fixture(scope="module")
def bare() -> Analyzer:
    """jieba's stock dictionary only, to show what the domain dictionary adds."""
    return Analyzer(AnalyzerOptions(domain_dictionary=False))


def csl_titles(n: int) -> list[str]:
    with CSL_FILE.open(encoding="utf-8") as handle:
        return [json.loads(line)["title"] for line in islice(handle, n)]


# -- normalisation ----------------------------------------------------------------------------


def test_normalize_folds_full_width_and_case() -> None:
    assert normalize("ＡＢＣ１２３　ＴｓｉｎｇＨｕａ") == "abc123 tsinghua"
    assert normalize("Ｃ＋＋（第２版）") == "c++(第2版)"


def test_normalize_unifies_punctuation_and_whitespace() -> None:
    assert normalize("清华，北大。“人工智能”、《报告》") == '清华,北大."人工智能","报告"'
    assert normalize("  a\t\n b\u3000c\xa0d  ") == "a b c d"
    # Invisible characters would otherwise glue or split tokens silently.
    assert normalize("人工\u200b智能\ufeff") == "人工智能"


def test_full_width_and_case_give_the_same_tokens(analyzer: Analyzer) -> None:
    assert analyzer.index_tokens("ＢＰ神经网络，ＧＰＵ") == analyzer.index_tokens("bp神经网络,gpu")
    assert analyzer.query_tokens("ＮＬＰ") == ["nlp"]


# -- segmentation and the domain dictionary ---------------------------------------------------


def test_common_words_and_institutions_come_out_whole(analyzer: Analyzer) -> None:
    assert "人工智能" in analyzer.words("发展人工智能产业")
    assert "人工智能" in analyzer.index_tokens("发展人工智能产业")
    assert "清华大学" in analyzer.words("清华大学计算机系")
    assert "清华大学" in analyzer.index_tokens("清华大学计算机系")


@pytest.mark.parametrize("name", ["多复变函数论", "泛函分析"])
def test_discipline_names_from_the_vocabulary_come_out_whole(
    analyzer: Analyzer, bare: Analyzer, name: str
) -> None:
    # NSFC discipline names (services/vocabularies) that jieba alone would split.
    assert name not in bare.words(f"关于{name}的研究")
    assert name in analyzer.words(f"关于{name}的研究")
    assert name in analyzer.index_tokens(f"关于{name}的研究")


def test_domain_dictionary_keeps_university_names_whole(analyzer: Analyzer, bare: Analyzer) -> None:
    names = [name for name, _ in universities() if "(" not in name]
    whole = sum(name in analyzer.words(f"{name}计算机学院") for name in names)
    stock = sum(name in bare.words(f"{name}计算机学院") for name in names)
    assert whole >= 0.98 * len(names)
    assert stock < whole


def test_add_terms_makes_a_new_name_a_word() -> None:
    fresh = Analyzer(AnalyzerOptions(), terms=[])
    text = "中关村量子谷研究院发布报告"
    assert "中关村量子谷研究院" not in fresh.words(text)
    assert fresh.add_terms(["中关村量子谷研究院", "（中关村量子谷研究院）"]) == 1
    assert "中关村量子谷研究院" in fresh.words(text)
    assert fresh.add_terms(["中关村量子谷研究院"]) == 0


# -- token streams ----------------------------------------------------------------------------


def test_index_tokens_are_the_phrase_stream_then_other_words(analyzer: Analyzer) -> None:
    tokens = analyzer.index_tokens("高效液相色谱法测定")
    phrase = analyzer.phrase_tokens("高效液相色谱法测定")
    assert phrase == ["高效", "效液", "液相", "相色", "色谱", "谱法", "法测", "测定"]
    # The stream comes first, so a phrase query of phrase_tokens is a substring match.
    assert tokens[: len(phrase)] == phrase
    assert "液相色谱" in tokens[len(phrase) :]
    # Two-character words are bigrams already and are not counted twice.
    assert tokens.count("高效") == 1


def test_query_tokens_of_mixed_chinese_and_english(analyzer: Analyzer) -> None:
    tokens = analyzer.query_tokens("基于BERT的中文命名实体识别, NLP 3.5 版")
    assert "bert" in tokens and "nlp" in tokens and "3.5" in tokens
    assert "的" not in tokens  # a stop word
    assert all(TOKEN.fullmatch(t) and t == t.lower() for t in tokens)
    # Long words become bigrams, so no Han token is longer than two characters.
    assert all(len(t) <= 2 for t in tokens if re.fullmatch(r"[\u4e00-\u9fff]+", t))
    assert len(tokens) == len(set(tokens))


def test_every_query_token_of_a_text_is_among_its_index_tokens(analyzer: Analyzer) -> None:
    # What lets a backend require every query token: a document holding the query's text
    # always has all of its tokens.
    for title in csl_titles(300):
        assert set(analyzer.query_tokens(title)) <= set(analyzer.index_tokens(title)), title
        phrase = analyzer.phrase_tokens(title)
        assert analyzer.index_tokens(title)[: len(phrase)] == phrase


def test_lucene_syntax_in_a_query_becomes_plain_tokens(analyzer: Analyzer) -> None:
    query = 'title:(x OR y)^3 \\" * ? ~ AND NOT {a TO b} [c] +d -e && f || g! h/i'
    tokens = analyzer.query_tokens(query)
    # "or", "and", "a" and "to" are (English) stop words; "not" is left as a plain word.
    assert tokens == ["title", "x", "y", "3", "not", "b", "c", "d", "e", "f", "g", "h", "i"]
    assert all(TOKEN.fullmatch(t) for t in tokens)
    assert not {"OR", "AND", "NOT", "TO"} & set(tokens)
    assert analyzer.query_tokens('* ? ~ " ^ :') == []
    for text in (query, "清华:(人工智能 OR 机器学习)^2"):
        for stream in (analyzer.index_tokens(text), analyzer.phrase_tokens(text)):
            assert all(TOKEN.fullmatch(t) for t in stream)


def test_a_query_of_only_stop_words_is_not_empty(analyzer: Analyzer) -> None:
    # An empty token list could be read as "match everything".
    assert analyzer.query_tokens("的") == ["的"]
    assert analyzer.query_tokens("the") == ["the"]


def test_tokens_suit_the_whitespace_analyzer() -> None:
    assert ES_ANALYZER == "whitespace"
    assert TOKEN_CHARS == "."


# -- names ------------------------------------------------------------------------------------


def test_pinyin_and_initials_reach_an_institution(analyzer: Analyzer) -> None:
    tokens = analyzer.name_tokens("清华大学")
    for typed in ("qh", "qinghua", "qhdx", "qinghuadaxue", "清华", "清华大学", "QingHua"):
        assert set(analyzer.query_tokens(typed)) <= set(tokens), typed
    prefixes = analyzer.name_prefixes("清华大学")
    assert {"q", "qingh", "qhd", "清", "清华大", "大学"} <= set(prefixes)


def test_prefixes_start_at_every_word_of_a_name(analyzer: Analyzer) -> None:
    prefixes = set(analyzer.name_prefixes("华北电力大学(北京)"))
    assert {"华北电力", "电力", "电力大学", "huabei", "hbdl"} <= prefixes


def test_a_typed_name_matches_its_own_name_tokens(analyzer: Analyzer) -> None:
    for name, _ in universities():
        assert set(analyzer.query_tokens(name)) <= set(analyzer.name_tokens(name)), name


def test_person_names_use_surname_readings(analyzer: Analyzer) -> None:
    tokens = analyzer.name_tokens("曾国藩", person=True)
    assert {"曾国藩", "zengguofan", "zgf", "zeng", "guofan", "国藩"} <= set(tokens)
    ouyang = analyzer.name_tokens("欧阳修", person=True)
    assert {"ouyang", "xiu", "oyx"} <= set(ouyang)
    for typed in ("曾国藩", "zeng guofan", "zgf"):
        assert set(analyzer.query_tokens(typed)) <= set(tokens), typed
    # A transliterated name has no Han surname in front.
    assert "阿" not in analyzer.name_tokens("阿卜杜·热合曼", person=True)


# -- determinism, laziness, threads ------------------------------------------------------------


def test_same_input_gives_the_same_tokens_in_threads_and_fresh_analyzers(
    analyzer: Analyzer, capfd: pytest.CaptureFixture[str]
) -> None:
    titles = csl_titles(50)

    def streams(a: Analyzer) -> list[tuple[list[str], list[str]]]:
        return [(a.index_tokens(t), a.query_tokens(t)) for t in titles]

    expected = streams(analyzer)
    assert streams(analyzer) == expected

    fresh = Analyzer()  # its dictionary loads on first use, here from 8 threads at once
    results: list[list[tuple[list[str], list[str]]]] = [[] for _ in range(8)]

    def work(slot: int) -> None:
        results[slot] = streams(fresh)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result == expected for result in results)
    # Loading jieba prints nothing to stdout.
    assert capfd.readouterr().out == ""


def test_short_forms_are_built_from_the_words_and_curated_ones_are_kept_for_their_owner(
    analyzer: Analyzer,
) -> None:
    peking = analyzer.short_forms("北京大学")
    assert peking.sure == ("北大",)
    assert "哈工大" in analyzer.short_forms("哈尔滨工业大学").sure
    engineering = analyzer.short_forms("哈尔滨工程大学")
    assert "哈工程" in engineering.all and "哈工大" not in engineering.all  # 哈工大 is claimed
    assert "南大" not in analyzer.short_forms("南开大学").all  # 南大 is 南京大学's
    assert analyzer.short_forms("南京大学").sure == ("南大",)
    assert analyzer.short_forms("四川大学").sure[0] == "川大"  # not built from its words
    assert "人大" in analyzer.short_forms("中国人民大学").sure  # a leading 中国 may be dropped
    # A form that is a word of its own elsewhere is only ever a loose one: 大理 is a city.
    dalian = analyzer.short_forms("大连理工大学")
    assert "大理" in dalian.loose and "大理" not in dalian.sure
    # Only the name before a bracketed campus counts, and short names have none.
    assert analyzer.short_forms("中国矿业大学(北京)").sure == ("中矿大", "矿大")
    assert analyzer.short_forms("复旦").all == ()


def test_neighbouring_single_characters_are_one_query_word(analyzer: Analyzer) -> None:
    assert analyzer.query_tokens("川大") == ["川大"]  # its bigram is in every index stream
    assert analyzer.query_tokens("两相流动") == ["两相", "流动"]
    # A stop word between them breaks the run: 进与退 is not 进退.
    assert "进退" not in analyzer.query_tokens("农业的进与退")
