"""Reusable Pydantic field types for record schemas (text cleaning, lists, URLs)."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

# Control and bidi-override characters corrupt display and can spoof text; tabs/newlines are
# allowed only in long text.
_FORBIDDEN_INLINE = re.compile(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_FORBIDDEN_BLOCK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")


def clean_line(value: str) -> str:
    """One-line text: trimmed, inner whitespace (also newlines, tabs) collapsed, no control or
    bidi characters."""
    value = _SPACES.sub(" ", value).strip()
    if _FORBIDDEN_INLINE.search(value):
        raise ValueError("contains control or bidirectional-override characters; remove them")
    return value


def clean_block(value: str) -> str:
    """Long text: trimmed; newlines and tabs kept; no other control characters."""
    if _FORBIDDEN_BLOCK.search(value):
        raise ValueError("contains control or bidirectional-override characters; remove them")
    return value.strip()


def _not_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be blank")
    return value


def _dedupe(values: list[str]) -> list[str]:
    seen: set[str] = set()
    result = []
    for value in values:
        key = unicodedata.normalize("NFKC", value).casefold()
        if value and key not in seen:
            seen.add(key)
            result.append(value)
    return result


def _normalize_url(value: str) -> str:
    if not re.match(r"^[a-z][a-z0-9+.-]*://", value, re.IGNORECASE):
        value = "https://" + value  # "www.tsinghua.edu.cn" is what people type
    if not re.match(r"^https?://[^\s/$.?#][^\s]*$", value, re.IGNORECASE):
        raise ValueError("must be an http(s) URL, e.g. https://www.example.edu.cn")
    return value


Line = Annotated[str, AfterValidator(clean_line), AfterValidator(_not_blank)]


Name = Annotated[Line, Field(max_length=200)]
Block = Annotated[str, AfterValidator(clean_block), Field(max_length=20_000)]
LongText = Annotated[str, AfterValidator(clean_block), Field(max_length=2_000_000)]
Url = Annotated[
    str, AfterValidator(clean_line), AfterValidator(_normalize_url), Field(max_length=500)
]
TextList = Annotated[
    list[Annotated[Line, Field(max_length=200)]],
    AfterValidator(_dedupe),
    Field(max_length=100),
]


def _strip_text(value: object) -> object:
    # Only text is stripped; anything else goes on to the str check and becomes a 422.
    return value.strip() if isinstance(value, str) else value


Org = Annotated[
    str, BeforeValidator(_strip_text), Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
]
SourceKey = Annotated[Line, Field(max_length=64)]
ExternalKey = Annotated[Line, Field(max_length=200)]

# The fields every record's writable fields end with: who owns it and where it came from.
OwnerOrgField = Annotated[
    Org | None,
    Field(
        description="Owning organisation; defaults to the caller's. Only admins may set another."
    ),
]
SourceField = Annotated[SourceKey | None, Field(description="Origin of the record, for imports.")]
ExternalIdField = Annotated[ExternalKey | None, Field(description="ID of the record in `source`.")]


def check_import_key(source: str | None, external_id: str | None) -> None:
    """`source` and `external_id` key a record for imports: give both, or neither."""
    if (source is None) != (external_id is None):
        raise ValueError("give source and external_id together (they key imports), or neither")


class RecordMeta(BaseModel):
    """Fields the platform maintains on every record."""

    id: str = Field(description="Stable opaque ID with the library prefix.")
    owner_org: str = Field(description="Organisation that owns (may edit) the record.")
    source: str | None = Field(
        None, description="Where the record came from, e.g. an import batch."
    )
    external_id: str | None = Field(None, description="The record's ID in `source`.")
    version: int = Field(description="Increments on every change; the ETag is derived from it.")
    created_at: datetime
    updated_at: datetime
