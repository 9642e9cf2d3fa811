"""Chinese text analysis for both search backends: normalise, segment, and emit plain tokens.

Elasticsearch indexes the tokens with its `whitespace` analyzer and the embedded backend puts
them, space-joined, into SQLite FTS5 (`unicode61` with `tokenchars` = TOKEN_CHARS), so a token
never contains whitespace or query syntax. The defaults are the best configuration measured by
`bench/relevance.py` (see bench/README.md, "Relevance").

`get_analyzer()` is the process-wide instance: `index_tokens` for full-text fields,
`query_tokens` for a query word, `phrase_tokens` for a quoted phrase on an index_tokens field,
`name_tokens` / `name_prefixes` for names and autocomplete, `add_terms` to teach jieba new names.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any
from typing import Literal

import jieba

from services.kernel.pinyin import person_name_pinyin
from services.kernel.pinyin import text_pinyin
from services.vocabularies.disciplines import DATA_FILE as DISCIPLINES_FILE

# The analyzer the Elasticsearch backend names in its mappings for our token fields. Our tokens
# are final, so `whitespace` only splits them. A cluster with IK or smartcn could set
# e.g. "ik_max_word" here, but then it must index the normalised raw text, not our tokens, and
# both backends would no longer rank alike.
ES_ANALYZER = "whitespace"

# Besides letters and digits, the only character a token can contain: the decimal point of
# numbers such as 3.5 (FTS5's unicode61 `tokenchars`).
TOKEN_CHARS = "."

DATA_DIR = Path(__file__).parent / "data"
INSTITUTIONS_FILE = DATA_DIR / "institutions.txt"
ABBREVIATIONS_FILE = DATA_DIR / "abbreviations.tsv"
SYNONYMS_FILE = DATA_DIR / "synonyms.tsv"

# Minimal on purpose: BM25 already discounts frequent words; these are the function words that
# jieba emits as words of their own and that would otherwise count towards "most query words
# must match".
DEFAULT_STOP_WORDS: frozenset[str] = frozenset(
    [
        "的",
        "了",
        "和",
        "与",
        "及",
        "或",
        "等",
        "是",
        "在",
        "之",
        "其",
        "对",
        "为",
        "以",
        "于",
        "并",
        "而",
        "也",
        "将",
        "把",
        "被",
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
    ]
)

# CJK unified ideographs (basic, extension A, compatibility) and the supplementary planes.
_HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN_RUN = re.compile(f"[{_HAN_CLASS}]+")
# A chunk is a run of Han characters or a run of other letters/digits; everything else (spaces,
# punctuation, Lucene operators) only separates chunks. Digits keep a decimal point: 3.5, v2.0.
_CHUNK = re.compile(rf"([{_HAN_CLASS}]+)|([^\W_{_HAN_CLASS}]+(?:(?<=\d)\.\d+)*)")
# Control and invisible format characters that would otherwise glue or split tokens silently.
_INVISIBLE = re.compile("[\u0000-\u0008\u000e-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2060\ufeff]")
# Punctuation NFKC leaves alone: CJK full stops, enumeration commas, quotes and brackets.
_PUNCTUATION = str.maketrans(
    {
        "。": ".",
        "｡": ".",
        "、": ",",
        "“": '"',
        "”": '"',
        "‘": "'",
        "’": "'",
        "《": '"',
        "》": '"',
        "〈": '"',
        "〉": '"',
        "「": '"',
        "」": '"',
        "『": '"',
        "』": '"',
        "【": "[",
        "】": "]",
        "〔": "[",
        "〕": "]",
        "〖": "[",
        "〗": "]",
        "—": "-",
        "–": "-",
        "―": "-",
        "〜": "~",
    }
)
# The same mapping as a regex substitution: str.translate looks every character of a
# non-Latin string up in the table (≈50 µs for an abstract), the regex only visits the few
# punctuation marks (≈1 µs); normalize() runs on every highlighted text and indexed field.
_PUNCTUATION_CHARS = {chr(k): v if isinstance(v, str) else "" for k, v in _PUNCTUATION.items()}
_PUNCTUATION_MARKS = re.compile("[" + re.escape("".join(_PUNCTUATION_CHARS)) + "]")
# Vocabulary names join parts with these ("代数拓扑与微分拓扑"); each part is a term of its own.
_NAME_PARTS = re.compile(r"[与和及、,;:()\[\]/]")
# Compound surnames, so that a person's given name can be told from the surname.
_COMPOUND_SURNAMES = frozenset(
    [
        "欧阳",
        "司马",
        "诸葛",
        "上官",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "令狐",
        "澹台",
        "万俟",
        "轩辕",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "百里",
        "呼延",
        "闻人",
        "申屠",
        "乐正",
    ]
)
_MAX_TERM_CHARS = 16
_MAX_PREFIX_CHARS = 24

Mode = Literal["search", "precise", "none"]
# How a query becomes tokens (see Analyzer.query_tokens; the bench compares them):
#   word_parts         precise-mode words; a word of one or two characters whole, a longer one
#                      as the two-character words that tile it, else its bigrams (the default)
#   word_bigrams       precise-mode words; a word of one or two characters whole, a longer one
#                      as its bigrams
#   bigrams            the phrase stream: every bigram, also across word boundaries
#   words+bigrams      precise-mode words plus every bigram
#   words+oov_bigrams  precise-mode words, plus bigrams of words the dictionary doesn't know
#   words              precise-mode words only
QueryVariant = Literal[
    "word_parts", "word_bigrams", "bigrams", "words+bigrams", "words+oov_bigrams", "words"
]

logging.getLogger("jieba").setLevel(logging.WARNING)


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, CJK punctuation unified, spaces collapsed."""
    text = _PUNCTUATION_MARKS.sub(
        lambda mark: _PUNCTUATION_CHARS[mark.group()], unicodedata.normalize("NFKC", text)
    )
    text = _INVISIBLE.sub("", text).lower()
    # Collapses and strips whitespace like re.sub(r"\s+", " ", text).strip() (str.split and
    # \s agree on every code point), five times faster.
    return " ".join(text.split())


def _chunks(normalized: str) -> list[tuple[bool, str]]:
    # (is_han, text) in reading order; punctuation and operators vanish here.
    return [(bool(m.group(1)), m.group(0)) for m in _CHUNK.finditer(normalized)]


def _bigrams(run: str) -> list[str]:
    # A lone character is its own gram, so a one-character word stays findable.
    if len(run) < 2:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def _joined_singles(words: list[str], stop_words: frozenset[str]) -> list[str]:
    # Characters jieba leaves on their own next to each other (川 大, 卒 中) are one word for
    # the query: the index holds their bigram (川大), not necessarily each character alone.
    # Stop words are dropped, and break a run (进 与 退 is not 进退).
    out: list[str] = []
    run = ""
    for word in [*words, ""]:
        if len(word) == 1 and word not in stop_words:
            run += word
            continue
        if run:
            out.append(run)
            run = ""
        if word and word not in stop_words:
            out.append(word)
    return out


def _dedupe(tokens: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(tokens))


@dataclass(frozen=True, slots=True)
class AnalyzerOptions:
    """Switches the relevance bench ablates; the defaults are the measured best."""

    # Words added to the index after the bigram stream: jieba search or precise mode, or none.
    index_words: Mode = "search"
    # The CJK bigram stream; without it the index holds precise-mode words in reading order.
    index_bigrams: bool = True
    query: QueryVariant = "word_parts"
    domain_dictionary: bool = True
    # jieba's HMM guesses unknown words from context, so a query and a document can disagree
    # on them; measured no better with it.
    hmm: bool = False
    stop_words: frozenset[str] = field(default=DEFAULT_STOP_WORDS)


def vocabulary_terms() -> list[str]:
    """The built-in domain dictionary: institution names and NSFC discipline names (parts)."""
    terms: list[str] = []
    for line in INSTITUTIONS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            terms.append(line)
    with DISCIPLINES_FILE.open(encoding="utf-8") as handle:
        names = [json.loads(line)["name"] for line in handle if line.strip()]
    for name in map(normalize, names):
        parts = [p for p in _NAME_PARTS.split(name) if p]
        # A compound name such as 李群与李代数 is searched by its parts; a short whole name
        # stays a word too.
        terms.extend(parts)
        if len(parts) > 1 and len(name) <= 8:
            terms.append(name)
    return terms


@dataclass(frozen=True, slots=True)
class ShortForms:
    """An institution's short forms (Analyzer.short_forms)."""

    sure: tuple[str, ...]
    loose: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.sure + self.loose


@cache
def curated_abbreviations() -> dict[str, tuple[str, ...]]:
    """Short forms that are not initials of words, by normalised full name (data file)."""
    forms: dict[str, tuple[str, ...]] = {}
    for line in ABBREVIATIONS_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, short = line.partition("\t")
            forms[normalize(name)] = tuple(normalize(f) for f in short.split(",") if f.strip())
    return forms


@cache
def _synonym_table() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for line in SYNONYMS_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            group = [normalize(term) for term in line.split(",") if term.strip()]
            for term in group:
                table[term] = tuple(other for other in group if other != term)
    return table


def synonyms(word: str) -> tuple[str, ...]:
    """The terms a query word stands for too (data/synonyms.tsv): AI → 人工智能."""
    return _synonym_table().get(normalize(word), ())


@cache
def _claimed_abbreviations() -> dict[str, str]:
    """Each curated short form and the one normalised full name it belongs to."""
    return {form: name for name, forms in curated_abbreviations().items() for form in forms}


class Analyzer:
    """The one text pipeline; jieba's dictionary loads lazily, once, on first use."""

    def __init__(
        self,
        options: AnalyzerOptions | None = None,
        *,
        terms: Iterable[str] | None = None,
    ) -> None:
        self.options = options or AnalyzerOptions()
        self._tokenizer = jieba.Tokenizer()
        self._lock = threading.RLock()
        self._ready = False
        self._initial_terms = list(terms) if terms is not None else None

    def with_options(self, **changes: Any) -> Analyzer:
        """A new analyzer with some options changed, sharing the dictionary when it can."""
        options = replace(self.options, **changes)
        clone = Analyzer(options, terms=self._initial_terms)
        if options.domain_dictionary == self.options.domain_dictionary:
            # jieba's dictionary costs ~100 MB and half a second: share it, and its lock.
            self._ensure_ready()
            clone._tokenizer, clone._lock, clone._ready = self._tokenizer, self._lock, True
        return clone

    # -- dictionary ---------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the dictionaries now (seconds, once per process) rather than on a first query."""
        self._ensure_ready()

    def _ensure_ready(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            self._tokenizer.initialize()
            if self.options.domain_dictionary:
                initial = self._initial_terms
                self._add_terms(vocabulary_terms() if initial is None else initial)
            self._ready = True

    def _add_terms(self, terms: Iterable[str]) -> int:
        added = 0
        words = {
            run
            for term in terms
            for run in _HAN_RUN.findall(normalize(term))
            if 2 <= len(run) <= _MAX_TERM_CHARS
        }
        for word in sorted(words):
            if not self._tokenizer.FREQ.get(word):
                # jieba's suggested frequency is the least that makes the word beat its split.
                self._tokenizer.add_word(word)
                added += 1
        return added

    def load(self) -> None:
        """Load the dictionary now (a server's start-up) instead of on the first request."""
        self._ensure_ready()

    def add_terms(self, terms: Iterable[str]) -> int:
        """Add names (institutions, keywords) to the dictionary; returns how many were new."""
        with self._lock:
            self._ensure_ready()
            return self._add_terms(terms)

    @property
    def dictionary_state(self) -> tuple[int, float]:
        """Changes whenever a word joins the dictionary: the key of caches of analysed names."""
        # add_word raises jieba's frequency total by at least 1, also for a word already
        # present as a prefix of another (which leaves the entry count as it was).
        self._ensure_ready()
        return len(self._tokenizer.FREQ), self._tokenizer.total

    def is_word(self, word: str) -> bool:
        """Whether the dictionary knows this word."""
        self._ensure_ready()
        return bool(self._tokenizer.FREQ.get(word))

    # -- segmentation -------------------------------------------------------------------------

    def normalize(self, text: str) -> str:
        """See `normalize`."""
        return normalize(text)

    def _segment(self, run: str, mode: Literal["search", "precise"]) -> list[str]:
        self._ensure_ready()
        cut = self._tokenizer.cut_for_search if mode == "search" else self._tokenizer.cut
        return [w for w in cut(run, HMM=self.options.hmm) if w.strip()]

    def words(self, text: str, mode: Mode = "precise") -> list[str]:
        """jieba words of Han runs, other words whole, minus stop words ("none": the raw runs)."""
        if mode == "none":
            return [chunk for _, chunk in _chunks(normalize(text))]
        stop = self.options.stop_words
        out: list[str] = []
        for is_han, chunk in _chunks(normalize(text)):
            pieces = self._segment(chunk, mode) if is_han else [chunk]
            out.extend(w for w in pieces if w not in stop)
        return out

    def phrase_tokens(self, text: str) -> list[str]:
        """Tokens for a phrase query: CJK bigrams in reading order, other words whole."""
        # index_tokens starts with this same stream, so a `match_phrase` (or an FTS5 phrase) of
        # these tokens on an index_tokens field is a substring match of the normalised text.
        stop = self.options.stop_words
        out: list[str] = []
        for is_han, chunk in _chunks(normalize(text)):
            if is_han:
                out.extend(_bigrams(chunk))
            elif chunk not in stop:
                out.append(chunk)
        return out

    # -- token streams ------------------------------------------------------------------------

    def index_tokens(self, text: str) -> list[str]:
        """Tokens to index for full text: the bigram stream, then jieba's other words."""
        opts = self.options
        if not opts.index_bigrams:
            return self.words(text, "precise" if opts.index_words == "none" else opts.index_words)
        out = self.phrase_tokens(text)
        # Appended after the stream so they never break a phrase's positions. Two-character
        # words are bigrams already (counting them twice would double their weight); single
        # characters stay findable on their own; longer words add a whole-word match.
        if opts.index_words != "none":
            out.extend(
                w
                for w in self.words(text, opts.index_words)
                if len(w) != 2 and _HAN_RUN.fullmatch(w)
            )
        return out

    def query_tokens(self, text: str) -> list[str]:
        """Tokens of a query, each once and all plain text (operators are gone)."""
        # Default: jieba's precise-mode words, one or two characters whole, longer ones as the
        # two-character words that tile them, else their bigrams. Every token is then in the
        # index of a document holding that word whatever the dictionary said when it was
        # indexed, and bigrams straddling two words are not required (see the bench:
        # dictionary drift, long queries, bench/relevance_heldout.py).
        variant = self.options.query
        if variant == "bigrams":
            return _dedupe(self.phrase_tokens(text)) or _dedupe(self.words(text, "none"))
        out: list[str] = []
        for is_han, chunk in _chunks(normalize(text)):
            if not is_han:
                if chunk not in self.options.stop_words:
                    out.append(chunk)
                continue
            words = [w for w in self._segment(chunk, "precise") if w not in self.options.stop_words]
            if variant == "word_parts":
                # Single characters are joined only where they stand side by side in the text.
                runs = _joined_singles(self._segment(chunk, "precise"), self.options.stop_words)
                out.extend(t for w in runs for t in self._word_parts(w))
            elif variant == "word_bigrams":
                out.extend(t for w in words for t in ([w] if len(w) <= 2 else _bigrams(w)))
            elif variant == "words+bigrams":
                out.extend(w for w in words if len(w) != 2)
                out.extend(_bigrams(chunk))
            elif variant == "words+oov_bigrams":
                out.extend(self._with_oov_bigrams(words))
            else:
                out.extend(words)
        # A query of nothing but stop words still means something to whoever typed it.
        return _dedupe(out) or _dedupe(self.words(text, "none"))

    def _word_parts(self, word: str) -> list[str]:
        # A word of one or two characters is its own token. A longer one is its two-character
        # words when they tile it (图像分割 → 图像 分割: not 像分, which would let 图像分析
        # count as most of it), else its bigrams. Both kinds are in every index stream.
        if len(word) <= 2:
            return [word]
        if len(word) % 2 == 0:
            pieces = [word[i : i + 2] for i in range(0, len(word), 2)]
            if all(self.is_word(piece) for piece in pieces):
                return pieces
        return _bigrams(word)

    def _with_oov_bigrams(self, words: list[str]) -> list[str]:
        # Words the dictionary doesn't know (runs of single characters) may be cut differently
        # inside a document, so they are also matched by their bigrams.
        out: list[str] = []
        singles = ""
        for word in [*words, ""]:
            if len(word) == 1:
                singles += word
                out.append(word)
                continue
            if len(singles) > 1:
                out.extend(_bigrams(singles))
            singles = ""
            if word:
                out.append(word)
                if not self.is_word(word) and _HAN_RUN.fullmatch(word):
                    out.extend(_bigrams(word))
        return out

    # -- names --------------------------------------------------------------------------------

    def name_tokens(self, name: str, *, person: bool = False) -> list[str]:
        """Tokens of an institution's or person's name: whole, words, pinyin, pinyin initials."""
        compact = "".join(chunk for _, chunk in _chunks(normalize(name)))
        if not compact:
            return []
        tokens = [compact]
        if person:
            # The full-text tokens too: query_tokens turns a typed name of three or more
            # characters into bigrams (and jieba's single characters), which must be here.
            tokens.extend(self.index_tokens(name))
            tokens.extend(self._person_parts(name))
            return _dedupe(t for t in tokens if t)
        tokens.extend(self.index_tokens(name))
        tokens.extend(self.words(name, "search"))
        whole = text_pinyin(name)
        tokens += ["".join(whole.syllables), whole.initials]
        # Search-mode words, so 清华大学 also yields qinghua and qh from 清华.
        for word in self.words(name, "search"):
            if _HAN_RUN.fullmatch(word):
                reading = text_pinyin(word)
                tokens += ["".join(reading.syllables), reading.initials]
        return _dedupe(t for t in tokens if t)

    def _person_parts(self, name: str) -> list[str]:
        reading = person_name_pinyin(name)
        syllables = reading.syllables
        if not syllables:
            return []
        normalized = normalize(name)
        han = "".join(_HAN_RUN.findall(normalized))
        # Surname then given name (张 三丰 → zhang, sanfeng), so either part finds the person;
        # transliterated names (阿卜杜·热合曼) and mixed scripts have no Han surname in front.
        cut = 2 if han[:2] in _COMPOUND_SURNAMES else 1
        if han != normalized or len(han) != len(syllables) or len(han) <= cut:
            cut = 0
        tokens = ["".join(syllables), reading.initials]
        if cut:
            tokens += [han[:cut], han[cut:], "".join(syllables[:cut]), "".join(syllables[cut:])]
        return tokens

    def _word_starts(self, compact: str) -> set[int]:
        starts: set[int] = set()
        for match in _HAN_RUN.finditer(compact):
            self._ensure_ready()
            spans = self._tokenizer.tokenize(match.group(0), mode="search", HMM=self.options.hmm)
            starts.update(match.start() + start for _, start, _ in spans)
        return starts

    def short_forms(self, name: str) -> ShortForms:
        """The short forms Chinese users type for an institution.

        `sure`: the curated forms of data/abbreviations.tsv (川大, 北航) and the initials of
        all the name's words (北大, 哈工大, 北师大, and 人大 without a leading 中国): a query
        equal to one ranks the institution as if named so. `loose`: other initials (北理,
        哈工程 from 哈尔滨 工程 大学), matched as words only, since a shorter form is often
        a word of its own (大理 from 大连理工 is a city). A curated form is never built for
        another institution (南大 is 南京大学's, not 南开大学's). Only the Han name before a
        bracketed campus counts.
        """
        full = normalize(name)
        curated = list(curated_abbreviations().get(full, ()))
        main = full.split("(")[0]
        if not _HAN_RUN.fullmatch(main) or len(main) < 4:
            return ShortForms(tuple(curated), ())
        words = self._fewest_words(main)
        sure: list[str] = []
        loose: list[str] = []
        for part in (words, words[1:] if words[0] == "中国" else []):
            if len(part) < 2:
                continue
            initials = [w[0] for w in part]
            sure.append("".join(initials))  # 哈工大, 北大, 人大
            if len(part) >= 3:
                loose.append("".join(initials[:2]))  # 北航, 上交, 华科
                loose.append("".join(initials[:-1]))  # 哈工, 北邮
                loose.append("".join(initials[:-2]) + part[-2])  # 哈工程, 北理工
            if len(part) >= 4:
                loose.append(initials[0] + initials[1] + initials[-1])  # 中科大, 北航大
        claimed = _claimed_abbreviations()

        def usable(form: str) -> bool:
            owner = claimed.get(form, full)
            return 2 <= len(form) < len(main) and form != main[: len(form)] and owner == full

        sure = _dedupe([*curated, *filter(usable, sure)])
        return ShortForms(
            tuple(sure), tuple(f for f in _dedupe(loose) if usable(f) and f not in sure)
        )

    def _fewest_words(self, run: str) -> list[str]:
        # The segmentation of `run` into words jieba knows (its search-mode pieces of two or
        # more characters), with the fewest single characters, then the fewest words:
        # 北京 航空 航天 大学, 华南 理工 大学.
        self._ensure_ready()
        pieces = {
            w for w in self._tokenizer.cut_for_search(run, HMM=False) if 2 <= len(w) < len(run)
        }

        def cost(words: list[str]) -> tuple[int, int]:
            return sum(len(w) == 1 for w in words), len(words)

        best: list[list[str] | None] = [[]] + [None] * len(run)
        for end in range(1, len(run) + 1):
            for start in range(end):
                before = best[start]
                piece = run[start:end]
                if before is None or (len(piece) > 1 and piece not in pieces):
                    continue
                candidate = [*before, piece]
                current = best[end]
                if current is None or cost(candidate) < cost(current):
                    best[end] = candidate
        return best[-1] or [run]

    def name_prefixes(self, name: str, *, person: bool = False) -> list[str]:
        """Autocomplete prefixes of the name, of its suffixes at word starts, pinyin, initials."""
        compact = "".join(chunk for _, chunk in _chunks(normalize(name)))
        if not compact:
            return []
        starts = [compact]
        if not person:
            # 华北电力大学 also completes from 电力 and 大学: every search-mode word starts one.
            starts += [compact[o:] for o in sorted(self._word_starts(compact)) if o]
        reading = person_name_pinyin(name) if person else text_pinyin(name)
        starts += ["".join(reading.syllables), reading.initials]
        prefixes: list[str] = []
        for start in starts:
            prefixes.extend(start[:n] for n in range(1, min(len(start), _MAX_PREFIX_CHARS) + 1))
        return _dedupe(p for p in prefixes if p)


_default: Analyzer | None = None
_default_lock = threading.Lock()


def get_analyzer() -> Analyzer:
    """The process-wide analyzer (the jieba dictionary loads on first use, not here)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Analyzer()
    return _default
