"""One text rule for every value a person types: keys, names, one-line text, long text.

The same rule runs wherever text enters the platform (request bodies, URL path keys, bulk
lines, the importer), so one logical value is stored one way and reaches one record:

* control characters (NUL, DEL, C0/C1) and bidirectional controls (which can make `abc`
  display as `cba`) are refused with a message that names the character;
* format characters that cannot be seen (zero-width space, BOM, soft hyphen, word joiner…)
  are removed from keys, names and one-line text;
* whitespace of any kind (tabs, newlines, no-break and ideographic spaces) collapses to one
  space and is trimmed (long text is only trimmed: its indents and line breaks are kept);
* keys (`source`, `external_id`, organisation codes, reference IDs) are NFKC-folded, so
  `１７` and `17` are one key; names are NFKC-folded too, except the full-width punctuation
  Chinese names are written with (`清华大学（深圳）` keeps its brackets); other text is NFC
  (composed accents), which leaves `O₃` and `m²` in a title as they were written.

Pure functions: each returns the cleaned text or raises `TextRefused` (a ValueError, so a
Pydantic validator turns it into a 422 naming the field).
"""

from __future__ import annotations

import re
import sys
import unicodedata

# Bidirectional controls: embeddings, overrides, isolates and the invisible marks.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Whitespace a line collapses to one space (\s covers tabs, breaks, NBSP and U+3000).
_LINE_SPACES = re.compile(r"\s+")
# Full-width ASCII punctuation (U+FF01–U+FF0F, U+FF1A–U+FF20, U+FF3B–U+FF40, U+FF5B–U+FF5E)
# and the ellipsis: how Chinese names are punctuated, kept as written by the name rule.
_KEPT_IN_NAMES = re.compile(r"([\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff5e\u2026])")


class TextRefused(ValueError):
    """The text holds a character that is never stored; the message says which and why."""


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def _char_class(code_points: list[int]) -> str:
    """A regex character class matching exactly `code_points` (as ranges)."""
    ranges: list[list[int]] = []
    for point in sorted(code_points):
        if ranges and point == ranges[-1][1] + 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    body = "".join(
        re.escape(chr(a)) + (f"-{re.escape(chr(b))}" if b > a else "") for a, b in ranges
    )
    return f"[{body}]"


def _format_code_points() -> list[int]:
    # Read from this Python's Unicode database once (about 0.1 s), so the rule follows it.
    return [p for p in range(sys.maxunicode + 1) if unicodedata.category(chr(p)) == "Cf"]


# Unicode fixes the control characters (category Cc) forever: C0, DEL and C1.
_CONTROLS = [*range(0x20), *range(0x7F, 0xA0)]


# Controls that are whitespace: a line turns them into spaces, a block keeps \t and \n.
_WHITESPACE_CONTROLS = "\t\n\v\f\r\x85"
_REFUSED = re.compile(
    _char_class(
        [p for p in _CONTROLS if chr(p) not in _WHITESPACE_CONTROLS]
        + [ord(c) for c in BIDI_CONTROLS]
    )
)
# Long text keeps its tabs and line breaks and nothing else of the controls.
_REFUSED_IN_BLOCKS = re.compile(
    _char_class([p for p in _CONTROLS if chr(p) not in "\t\n\r"] + [ord(c) for c in BIDI_CONTROLS])
)
# Zero-width space and joiners, BOM, soft hyphen, word joiner, tags…: never meant to be seen.
_INVISIBLE = re.compile(
    _char_class([p for p in _format_code_points() if chr(p) not in BIDI_CONTROLS])
)


def _refuse_and_strip(value: str) -> str:
    """Refuse control and bidi characters; drop the other invisible format characters."""
    refused = _REFUSED.search(value)
    if refused is not None:
        _refuse(refused.group())
    return _INVISIBLE.sub("", value)


def _refuse(char: str) -> None:
    if char in BIDI_CONTROLS:
        raise TextRefused(
            f"contains a bidirectional control character ({_describe(char)}) that can make "
            "text display in another order than it is stored; remove it"
        )
    raise TextRefused(
        f"contains a control character ({_describe(char)}); remove it "
        "(only ordinary text is stored)"
    )


def clean_line(value: str) -> str:
    """One-line text (titles, cities, positions): NFC, invisible characters removed,
    whitespace collapsed and trimmed; control and bidi characters refused."""
    value = _refuse_and_strip(value)
    return _LINE_SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()


def clean_name(value: str) -> str:
    """A name (of an institution, a person, a database): `clean_line`, with full-width
    letters, digits and spaces folded by NFKC (`Ｔｓｉｎｇｈｕａ` is `Tsinghua`) while the
    full-width punctuation of Chinese names stays as written."""
    value = _refuse_and_strip(value)
    parts = _KEPT_IN_NAMES.split(value)
    # Odd positions are the kept punctuation (the split's capture group).
    folded = "".join(
        part if index % 2 else unicodedata.normalize("NFKC", part)
        for index, part in enumerate(parts)
    )
    return _LINE_SPACES.sub(" ", folded).strip()


def clean_key(value: str) -> str:
    """A key or code (`source`, `external_id`, an organisation, a reference ID): NFKC,
    invisible characters removed, whitespace collapsed and trimmed; control and bidi
    characters refused. `１７`, `17\\u200b`, `\\ufeff17` and `17\\u00a0` are all `17`."""
    value = _refuse_and_strip(value)
    return _LINE_SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip()


def clean_block(value: str) -> str:
    """Long text (abstracts, descriptions, reports): stored as written but for the ends,
    which are trimmed; control characters other than tabs and line breaks, and bidi
    controls, are refused. Nothing inside is rewritten: a report's full-width indents and
    line breaks come back as they were sent."""
    refused = _REFUSED_IN_BLOCKS.search(value)
    if refused is not None:
        _refuse(refused.group())
    return value.strip()
