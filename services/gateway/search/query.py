"""The list grammar of API.md parsed into a SearchRequest; every mistake is a 400 naming the
field and the fix. User text only ever becomes tokens, never query syntax."""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from datetime import date
from typing import Any

from services.gateway.search.model import FieldKind
from services.gateway.search.model import FilterClause
from services.gateway.search.model import FilterField
from services.gateway.search.model import LibrarySchema
from services.gateway.search.model import Scalar
from services.gateway.search.model import SortKey
from services.gateway.search.model import Terms
from services.gateway.search.model import TextQuery
from services.kernel.errors import BadRequest
from services.kernel.errors import FieldError
from services.kernel.pagination import MAX_PAGE_SIZE
from services.kernel.pagination import decode_cursor
from services.kernel.pagination import encode_cursor

MAX_WINDOW = 10_000  # page × page_size beyond this needs cursor paging
MAX_Q_LENGTH = 500
MAX_GROUPS = 32
MAX_FILTERS = 32
MAX_VALUES = 50
RELEVANCE = "relevance"
# How much more an unquoted word's exact string counts than its tokens found apart
# (bench/relevance_heldout.py, tune half).
EXACT_STRING_BOOST = 4.0

_Q_PARTS = re.compile(r'(-?)"([^"]*)"|(\S+)')
_TRUE = {"true", "1", "yes", "是", "y"}
_FALSE = {"false", "0", "no", "否", "n"}


def _bad(field: str, message: str, fix: str) -> BadRequest:
    return BadRequest(f"{field}: {message}; {fix}", errors=[FieldError(("query", field), message)])


def tokens_needed(count: int) -> int:
    """How many of an unquoted word's tokens a document must hold: all of one or two, all but
    one of more. A keyword stated in a near form (another last character, an extra qualifier,
    a synonym for one part) still matches, below the documents holding all of it or the exact
    string (bench/relevance_heldout.py: no-hit queries 14 → 4 of 585, nDCG@10 up)."""
    return count if count <= 2 else count - 1


def parse_q(
    raw: str | None,
    tokenize: Callable[[str], list[str]],
    phrase_tokenize: Callable[[str], list[str]] | None = None,
    stop_words: frozenset[str] = frozenset(),
    normalize: Callable[[str], str] | None = None,
    synonyms: Callable[[str], Sequence[str]] | None = None,
) -> TextQuery | None:
    """Words AND; `"a phrase"`; `-word` excludes; `a OR b`. Syntax characters become text.

    A word of several tokens matches by most of them (`tokens_needed`); a quoted phrase and an
    excluded word need all of theirs. With `normalize`, the query and each of its words are
    also the strings a whole field value may equal (`TextQuery.exact`). With `synonyms`, an
    unquoted word also matches as each of its synonyms (AI as 人工智能), as an alternative.

    A quoted phrase is tokenised like the index (`phrase_tokenize`), so that its tokens are
    adjacent in indexed text. An unquoted word also matches as an exact string (an extra
    phrase alternative), which ranks verbatim occurrences first (bench/README.md: +1 point
    nDCG@10). A word that is only a stop word (的, of) is dropped when other words remain,
    since no index holds it.
    """
    if raw is None or not raw.strip():
        return None
    if len(raw) > MAX_Q_LENGTH:
        raise _bad("q", f"longer than {MAX_Q_LENGTH} characters", "shorten the query")
    groups: list[list[Terms]] = []
    stop_groups: set[int] = set()
    excluded: list[Terms] = []
    positive_words: list[str] = []
    expanded_words: list[str] = []
    join_next = False
    for match in _Q_PARTS.finditer(raw):
        negative, phrase, word = match.group(1), match.group(2), match.group(3)
        if word == "OR":
            join_next = bool(groups)
            continue
        is_phrase = phrase is not None
        if word is not None and word.startswith("-") and len(word) > 1:
            negative, word = "-", word[1:]
        if is_phrase:
            tokens = tuple((phrase_tokenize or tokenize)(phrase))
        else:
            tokens = tuple(tokenize(word or ""))
        if not tokens:
            continue  # punctuation or syntax only: nothing to match
        terms = Terms(
            tokens,
            phrase=is_phrase and len(tokens) > 1,
            minimum=0 if is_phrase else tokens_needed(len(tokens)),
        )
        alternatives = [terms]
        if not is_phrase and phrase_tokenize is not None:
            whole_word = tuple(phrase_tokenize(word or ""))
            if len(whole_word) > 1 and whole_word != tokens:
                alternatives.append(Terms(whole_word, phrase=True, boost=EXACT_STRING_BOOST))
        expansions = list(synonyms(word or "")) if synonyms is not None and not is_phrase else []
        for other in expansions:
            other_tokens = tuple(tokenize(other))
            if other_tokens:
                alternatives.append(Terms(other_tokens, minimum=tokens_needed(len(other_tokens))))
        if not negative:
            positive_words.append(phrase if is_phrase else word or "")
            expanded_words.extend(expansions)
        if negative:
            excluded.append(replace(terms, minimum=0))  # excluded only when all of it is there
        elif join_next:
            groups[-1].extend(alternatives)
        else:
            groups.append(alternatives)
            if stop_words and all(t in stop_words for t in tokens):
                stop_groups.add(len(groups) - 1)
        join_next = False
    if stop_groups and len(stop_groups) < len(groups):
        groups = [g for i, g in enumerate(groups) if i not in stop_groups]
    if len(groups) > MAX_GROUPS:
        raise _bad("q", f"more than {MAX_GROUPS} words", "use fewer words or a filter")
    if not groups and not excluded:
        return None
    exact: tuple[str, ...] = ()
    if normalize is not None:
        whole = " ".join(positive_words) if len(positive_words) > 1 else ""
        candidates = [whole, *positive_words, *expanded_words]
        exact = tuple(e for e in dict.fromkeys(map(normalize, candidates)) if e)
    return TextQuery(tuple(tuple(g) for g in groups), tuple(excluded), raw=raw, exact=exact)


def _suggest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'? " if close else ""


def _field(schema: LibrarySchema, name: str, param: str, need: str | None = None) -> FilterField:
    candidates = [f.name for f in schema.fields.values() if need is None or getattr(f, need)]
    found = schema.fields.get(name)
    if found is None or (need is not None and not getattr(found, need)):
        what = {"facetable": "facet", "sortable": "sort"}.get(need or "", "filter")
        raise _bad(
            param,
            f"unknown {what} field '{name[:40]}'",
            f"{_suggest(name, candidates)}{what} fields of {schema.name}: {', '.join(candidates)}",
        )
    return found


def _date(text: str, *, upper: bool) -> date:
    parts = text.split("-")
    try:
        if len(parts) == 1 and len(parts[0]) == 4:
            return date(int(parts[0]), 12 if upper else 1, 31 if upper else 1)
        if len(parts) == 2:
            year, month = int(parts[0]), int(parts[1])
            if upper:
                next_month = date(year + month // 12, month % 12 + 1, 1)
                return date.fromordinal(next_month.toordinal() - 1)
            return date(year, month, 1)
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError("not a date: use YYYY, YYYY-MM or YYYY-MM-DD") from exc


def _value(field: FilterField, text: str, *, upper: bool = False) -> Scalar:
    text = text.strip()
    if not text:
        raise ValueError("empty value")
    if field.kind is FieldKind.INTEGER:
        try:
            return int(text)
        except ValueError as exc:
            raise ValueError("not a whole number") from exc
    if field.kind is FieldKind.NUMBER:
        try:
            return float(text)
        except ValueError as exc:
            raise ValueError("not a number") from exc
    if field.kind is FieldKind.DATE:
        return _date(text, upper=upper)
    if field.kind is FieldKind.BOOLEAN:
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("not true or false")
    if len(text) > 200:
        raise ValueError("longer than 200 characters")
    return text


def parse_filter(raw: str | None, schema: LibrarySchema) -> tuple[FilterClause, ...]:
    """`field:value` pairs joined by `,`; `|` ORs values; `!` negates; `a..b` ranges."""
    if raw is None or not raw.strip():
        return ()
    clauses = []
    parts = [p for p in raw.split(",") if p.strip()]
    if len(parts) > MAX_FILTERS:
        raise _bad("filter", f"more than {MAX_FILTERS} conditions", "combine values with |")
    for part in parts:
        part = part.strip()
        negate = part.startswith("!")
        name, sep, value = part.lstrip("!").partition(":")
        if not sep:
            raise _bad("filter", f"'{part[:40]}' is not field:value", "e.g. filter=type:university")
        field = _field(schema, name.strip(), "filter")
        try:
            clauses.append(_clause(field, value, negate))
        except ValueError as exc:
            raise _bad("filter", f"{field.name}: '{value[:40]}' is {exc}", _example(field)) from exc
    return tuple(clauses)


def _clause(field: FilterField, value: str, negate: bool) -> FilterClause:
    if ".." in value:
        if field.kind in (FieldKind.KEYWORD, FieldKind.BOOLEAN):
            raise ValueError("a range, but ranges need a number or date field")
        low, _, high = value.partition("..")
        lower = _value(field, low) if low.strip() else None
        upper = _value(field, high, upper=True) if high.strip() else None
        if lower is None and upper is None:
            raise ValueError("an empty range")
        return FilterClause(field, lower=lower, upper=upper, negate=negate)
    values = value.split("|")
    if len(values) > MAX_VALUES:
        raise ValueError(f"more than {MAX_VALUES} alternatives")
    if field.kind is FieldKind.DATE:
        periods = [(_value(field, v), _value(field, v, upper=True)) for v in values]
        if len(periods) == 1 and periods[0][0] != periods[0][1]:
            # A year or a month is the whole period, as at either end of a range.
            return FilterClause(field, lower=periods[0][0], upper=periods[0][1], negate=negate)
        if any(low != high for low, high in periods):
            raise ValueError(
                "a list with a year or a month; give whole dates (YYYY-MM-DD) with |, "
                "or one period (2013, 2013-05 or 2013..2015)"
            )
    return FilterClause(field, values=tuple(_value(field, v) for v in values), negate=negate)


def _example(field: FilterField) -> str:
    return {
        FieldKind.INTEGER: f"e.g. {field.name}:2020 or {field.name}:2018..2023",
        FieldKind.NUMBER: f"e.g. {field.name}:1.5 or {field.name}:1..2",
        FieldKind.DATE: f"e.g. {field.name}:2023-05-01 or {field.name}:2020..2023-06",
        FieldKind.BOOLEAN: f"e.g. {field.name}:true",
    }.get(field.kind, f"e.g. {field.name}:value or {field.name}:a|b")


def parse_sort(raw: str | None, schema: LibrarySchema, *, has_text: bool) -> tuple[SortKey, ...]:
    """`field:asc|desc`, comma-separated; default relevance with q, else the library's default."""
    if raw is None or not raw.strip():
        if has_text:
            return (SortKey(RELEVANCE, True),)
        return tuple(SortKey(name, desc) for name, desc in schema.default_sort)
    keys = []
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        name, _, direction = part.partition(":")
        direction = direction.strip().lower() or ("desc" if name == RELEVANCE else "asc")
        if direction not in ("asc", "desc"):
            raise _bad("sort", f"'{direction[:10]}' is not asc or desc", f"e.g. sort={name}:desc")
        if name == RELEVANCE:
            if not has_text:
                raise _bad("sort", "relevance needs a q", "add q=… or sort by a field")
            keys.append(SortKey(RELEVANCE, True))
            continue
        keys.append(SortKey(_field(schema, name, "sort", "sortable").name, direction == "desc"))
    return tuple(keys)


def parse_facets(
    raw: str | None, schema: LibrarySchema, param: str = "facets"
) -> tuple[FilterField, ...]:
    """Facetable fields; `param` is the query parameter they came from (errors name it)."""
    if raw is None or not raw.strip():
        return ()
    names = list(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    return tuple(_field(schema, name, param, "facetable") for name in names)


def parse_select(raw: str | None) -> frozenset[str] | None:
    if raw is None or not raw.strip():
        return None
    names = {n.strip() for n in raw.split(",") if n.strip()}
    bad = [n for n in names if not re.fullmatch(r"[a-z_][a-z0-9_]{0,63}", n)]
    if bad:
        raise _bad("select", f"'{bad[0][:40]}' is not a field name", "e.g. select=id,name,type")
    return frozenset(names | {"id"})


@dataclass(frozen=True, slots=True)
class Paging:
    offset: int
    size: int
    page: int | None
    search_after: tuple[Any, ...] | None
    cursor_mode: bool


def query_fingerprint(*parts: str | None) -> str:
    """Binds a cursor to the query it came from, so it cannot be replayed on another."""
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()[:16]


def parse_paging(page: int | None, page_size: int, cursor: str | None, fingerprint: str) -> Paging:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise _bad("page_size", f"must be 1–{MAX_PAGE_SIZE}", "e.g. page_size=20")
    if cursor is not None:
        if page is not None:
            raise _bad("page", "cannot be combined with cursor", "use one or the other")
        if cursor == "*":
            return Paging(0, page_size, None, None, True)
        position = decode_cursor(cursor)
        after = position.get("after")
        if not isinstance(after, list) or not all(
            v is None or isinstance(v, str | int | float | bool) for v in after
        ):
            raise _bad(
                "cursor",
                "is not one this API issued",
                "start again with cursor=* and follow meta.next_cursor",
            )
        if position.get("q") != fingerprint:
            raise _bad(
                "cursor",
                "belongs to a different query",
                "start again with cursor=* and the same q, filter and sort",
            )
        return Paging(0, page_size, None, tuple(position["after"]), True)
    page = page or 1
    if page < 1:
        raise _bad("page", "must be 1 or more", "e.g. page=1")
    if page * page_size > MAX_WINDOW:
        raise _bad(
            "page",
            f"page × page_size is over {MAX_WINDOW}",
            "for deep paging use cursor=* and follow meta.next_cursor",
        )
    return Paging((page - 1) * page_size, page_size, page, None, False)


def next_cursor(sort_values: Sequence[Any], fingerprint: str) -> str:
    return encode_cursor({"after": list(sort_values), "q": fingerprint})
