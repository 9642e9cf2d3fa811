"""Highlights for the SPA: query tokens marked with <em> in the original text, HTML-escaped.

Done in Python for both backends, on the raw text, so the fragments read as the record does
(Elasticsearch would highlight our token strings, not the text).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from services.gateway.search.analysis import normalize

FRAGMENT_CHARS = 80
MAX_FRAGMENTS = 3


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _marked_tokens(tokens: Sequence[str]) -> list[str]:
    """The tokens worth marking, longest first."""
    # Single characters would light up half a Chinese sentence.
    usable = {t for t in tokens if len(t) >= 2 or t.isascii()}
    return sorted(usable, key=len, reverse=True)


def _spans(text: str, tokens: Sequence[str]) -> list[tuple[int, int]]:
    """Where `tokens` (from `_marked_tokens`) occur in `text`, compared after NFKC + lower
    case (length-preserving)."""
    normalized = normalize(text)  # once: it is most of the cost of highlighting
    folded = normalized if len(normalized) == len(text) else text.lower()
    spans = []
    for token in tokens:
        if token not in folded:
            continue
        for match in re.finditer(re.escape(token), folded):
            spans.append((match.start(), match.end()))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _fragment(text: str, spans: list[tuple[int, int]], around: tuple[int, int]) -> str:
    start = max(0, around[0] - FRAGMENT_CHARS // 2)
    end = min(len(text), start + FRAGMENT_CHARS)
    out, cursor = [], start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out.append(html.escape(text[cursor:s]))
        out.append(f"<em>{html.escape(text[s:e])}</em>")
        cursor = e
    out.append(html.escape(text[cursor:end]))
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    return prefix + "".join(out) + suffix


def highlight(
    source: Mapping[str, Any], fields: Iterable[str], tokens: Sequence[str]
) -> dict[str, list[str]]:
    """`{"title": ["…<em>人工智能</em>…"]}` for the fields where a query token occurs."""
    result: dict[str, list[str]] = {}
    marked = _marked_tokens(tokens)
    if not marked:
        return result
    for field in fields:
        fragments: list[str] = []
        for text in _texts(source.get(field)):
            spans = _spans(text, marked)
            for span in spans:
                if len(fragments) >= MAX_FRAGMENTS:
                    break
                fragments.append(_fragment(text, spans, span))
        if fragments:
            result[field] = list(dict.fromkeys(fragments))  # a short text is one fragment
    return result
