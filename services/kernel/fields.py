"""Reusable Pydantic field types for record schemas (text cleaning, lists, URLs)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Annotated
from typing import Any
from typing import get_args

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import Field
from pydantic import TypeAdapter
from pydantic import model_validator

from services.kernel.labelled import LabelledEnum
from services.kernel.library import LibraryFacts
from services.kernel.record_ids import is_id
from services.kernel.text import clean_block
from services.kernel.text import clean_key
from services.kernel.text import clean_line
from services.kernel.text import clean_name

__all__ = ["clean_block", "clean_line"]  # services import them from here with the types


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
# Names and keys follow their own text rules (kernel/text.py): look-alikes are one value.
Name = Annotated[str, AfterValidator(clean_name), AfterValidator(_not_blank), Field(max_length=200)]
Key = Annotated[str, AfterValidator(clean_key), AfterValidator(_not_blank)]
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
NameList = Annotated[list[Name], AfterValidator(_dedupe), Field(max_length=100)]


RecordId = Annotated[str, Field(max_length=64)]


def record_ref(library: LibraryFacts) -> AfterValidator:
    """The check of a reference to a record of `library` by its ID (`ins_…`), used as
    `Annotated[RecordId, record_ref(LIBRARY)]`: cleaned as a key, so no NUL or look-alike
    reaches the database, and of the library's ID shape; whether the record exists is the
    owning service's check."""
    prefix, what = library.id_prefix, library.entity.replace("_", " ")

    def check(value: str) -> str:
        value = clean_key(value)
        if not is_id(value, prefix):
            raise ValueError(f"must be an {what} ID such as {prefix}_…, got {value[:40]!r}")
        return value

    return AfterValidator(check)


def _clean_key_text(value: object) -> object:
    # Only text is cleaned; anything else goes on to the str check and becomes a 422.
    return clean_key(value) if isinstance(value, str) else value


Org = Annotated[
    str, BeforeValidator(_clean_key_text), Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
]
SOURCE_MAX_LENGTH = 64
EXTERNAL_ID_MAX_LENGTH = 200
SourceKey = Annotated[Key, Field(max_length=SOURCE_MAX_LENGTH)]
ExternalKey = Annotated[Key, Field(max_length=EXTERNAL_ID_MAX_LENGTH)]

_IMPORT_KEY = TypeAdapter(tuple[SourceKey, ExternalKey])


def import_key(source: str, external_id: str) -> tuple[str, str]:
    """`(source, external_id)` cleaned as in URLs, bodies and bulk lines (ValidationError if
    either is unusable), for code that upserts without a request."""
    return _IMPORT_KEY.validate_python((source, external_id))


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


class RecordRead(RecordMeta):
    """Base of a record as the API returns it: read from a stored record (its attributes of
    the same names) or from a dict, each `<field>_label` filled in from the labelled enum of
    `<field>` (`kind` → `kind_label`: 座谈会).

    A subclass that also derives from the library's fields (which forbid unknown keys) says
    `extra="ignore"` again: pydantic merges its bases' configs, and the last base wins.
    """

    model_config = ConfigDict(extra="ignore", from_attributes=True)

    @model_validator(mode="before")
    @classmethod
    def read_with_labels(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
        else:
            data = {name: getattr(data, name) for name in cls.model_fields if hasattr(data, name)}
        for label, (field, enum) in _labelled_fields(cls).items():
            if data.get(field) is not None:
                data[label] = enum(data[field]).label
        return data


@cache
def _labelled_fields(model: type[BaseModel]) -> dict[str, tuple[str, type[LabelledEnum]]]:
    """`<field>_label` → (`<field>`, its enum), for the model's fields holding a labelled enum."""
    found: dict[str, tuple[str, type[LabelledEnum]]] = {}
    for label in model.model_fields:
        field = model.model_fields.get(label.removesuffix("_label"))
        if not label.endswith("_label") or field is None:
            continue
        for candidate in (field.annotation, *get_args(field.annotation)):
            if isinstance(candidate, type) and issubclass(candidate, LabelledEnum):
                found[label] = (label.removesuffix("_label"), candidate)
    return found


@dataclass(frozen=True, slots=True)
class RecordSchemas:
    """A record library's bodies and answers, declared beside them in its `schemas.py`."""

    fields: type[BaseModel]  # an upsert's and a bulk line's body
    create: type[BaseModel]
    patch: type[BaseModel]
    read: type[BaseModel]
    # One list entry (a summary may leave out long fields); `read` by default.
    listed: type[BaseModel] | None = None
