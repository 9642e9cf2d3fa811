"""Documents reuse each name's analysis until the dictionary changes (pure logic, no servers)."""

from __future__ import annotations

from services.gateway.search.analysis import Analyzer
from services.gateway.search.analysis import AnalyzerOptions
from services.gateway.search.libraries.outcomes import outcome_index_document

NAME = "智汇星河研究院"


def outcome(keywords: list[str]) -> dict[str, object]:
    return {"id": "out_1", "version": 1, "title": "数字经济与治理", "keywords": keywords}


def test_a_name_is_analysed_again_once_a_new_word_joins_the_dictionary() -> None:
    fresh = Analyzer(AnalyzerOptions(), terms=[])
    before = outcome_index_document(outcome([NAME]), {}, fresh).tokens["keywords"]
    assert before == " ".join(fresh.name_tokens(NAME))
    assert outcome_index_document(outcome([NAME]), {}, fresh).tokens["keywords"] == before
    assert fresh.add_terms(["星河研究院"]) == 1
    after = outcome_index_document(outcome([NAME]), {}, fresh).tokens["keywords"]
    assert after == " ".join(fresh.name_tokens(NAME)) != before


def test_analyzers_with_other_options_keep_their_own_cache() -> None:
    words = Analyzer(AnalyzerOptions(), terms=[])
    no_words = words.with_options(index_words="none")
    with_words = outcome_index_document(outcome([NAME]), {}, words).tokens["keywords"]
    without = outcome_index_document(outcome([NAME]), {}, no_words).tokens["keywords"]
    assert with_words == " ".join(words.name_tokens(NAME))
    assert without == " ".join(no_words.name_tokens(NAME))
