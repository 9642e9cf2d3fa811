"""Request and response schemas: dataset definitions (API.md, "Dataset") and their records."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated
from typing import Any

from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StrictInt
from pydantic import StrictStr
from pydantic import ValidationInfo
from pydantic import field_validator
from pydantic import model_validator
from pydantic.json_schema import JsonDict

from services.kernel.fields import Block
from services.kernel.fields import ExternalIdField
from services.kernel.fields import Line
from services.kernel.fields import Name
from services.kernel.fields import Org
from services.kernel.fields import OwnerOrgField
from services.kernel.fields import RecordMeta
from services.kernel.fields import RecordSchemas
from services.kernel.fields import SourceField
from services.kernel.fields import check_import_key
from services.kernel.fields import clean_line
from services.kernel.library import declared_libraries
from services.kernel.library import record_libraries
from services.kernel.merge_patch import MergePatch
from services.kernel.visibility import VISIBILITY_LABELS as PLATFORM_VISIBILITY_LABELS
from services.kernel.visibility import Visibility

# Libraries a `ref:<library>` field may point at, and the ID prefix of their records.
LIBRARIES: dict[str, str] = {library.name: library.id_prefix for library in record_libraries()}
SCALAR_TYPES = ("text", "keyword", "integer", "number", "date", "boolean")
REF_TYPES = tuple(f"ref:{library}" for library in LIBRARIES)
FIELD_TYPES = (*SCALAR_TYPES, *REF_TYPES)
STRING_TYPES = frozenset({"text", "keyword", "date", *REF_TYPES})
ENUM_TYPES = frozenset({"keyword", "integer"})
FACET_TYPES = frozenset({"keyword", "integer", "boolean", *REF_TYPES})
SORT_TYPES = frozenset({"keyword", "integer", "number", "date", "boolean"})
SEARCH_TYPES = frozenset({"text", "keyword"})

MAX_FIELDS = 100
MAX_ENUM_OPTIONS = 1000
MAX_KEYWORD_LENGTH = 500

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Path segments the gateway and SPA use beside `/datasets/{slug}`, and words that read as
# "no value"; a dataset named like them would shadow a route or confuse a reader.
RESERVED_SLUGS = frozenset(
    {
        "admin",
        "all",
        "api",
        "autocomplete",
        "bulk",
        "changes",
        "docs",
        "healthz",
        "internal",
        "metrics",
        "new",
        "none",
        "null",
        "openapi",
        "readyz",
        "records",
        "redoc",
        "search",
        "sources",
        "stats",
        "undefined",
        # Every library's name, so no dataset reads as one.
        *(library.name for library in declared_libraries()),
    }
)


# One set of visibility labels for every library (the SPA shows them side by side).
VISIBILITY_LABELS: dict[Visibility, str] = dict(PLATFORM_VISIBILITY_LABELS)


def check_slug(value: str) -> str:
    """A URL-safe dataset slug, or a ValueError saying how to write one."""
    if any(c in value for c in "./\\%") or value.startswith("~"):
        raise ValueError(
            f"slug {value[:40]!r} looks like a path; slugs appear in URLs, so only lower-case "
            "letters a-z, digits and '-' are allowed (e.g. nsfc-disciplines)"
        )
    if not _SLUG.match(value):
        hint = "; use lower case" if _SLUG.match(value.lower()) else ""
        raise ValueError(
            "slug must be 2-64 characters of lower-case a-z, 0-9 and '-', starting and ending "
            f"with a letter or digit (e.g. nsfc-disciplines){hint}"
        )
    if value in RESERVED_SLUGS:
        raise ValueError(f"slug {value!r} is reserved (it names a route); choose another")
    return value


Slug = Annotated[str, BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v)]


class EnumOption(BaseModel):
    """One allowed value of an enum field, with an optional label for the SPA (e.g. 数理)."""

    model_config = ConfigDict(extra="forbid")

    value: StrictStr | StrictInt
    label: Annotated[Line, Field(max_length=100)] | None = None


def _options(value: Any) -> Any:
    # `["A", "B"]` is shorthand for `[{"value": "A"}, {"value": "B"}]`.
    if isinstance(value, list):
        return [item if isinstance(item, dict) else {"value": item} for item in value]
    return value


class FieldSpec(BaseModel):
    """A field of a dataset as stored and returned (already validated when it was defined)."""

    model_config = ConfigDict(extra="ignore")

    name: str
    label: str
    type: str
    description: str | None = None
    multiple: bool = False
    required: bool = False
    searchable: bool = False
    filterable: bool = False
    facetable: bool = False
    sortable: bool = False
    restricted: bool = False
    enum: list[EnumOption] | None = None

    @property
    def library(self) -> str | None:
        """The referenced library of a `ref:<library>` field."""
        return self.type.partition(":")[2] or None

    def enum_values(self) -> list[str | int]:
        return [option.value for option in self.enum or []]

    def enum_label(self, value: Any) -> str | None:
        for option in self.enum or []:
            if option.value == value and type(option.value) is type(value):
                return option.label
        return None


class FieldDefinition(FieldSpec):
    """A field as an admin defines it; the constraints keep the search index sensible."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        description="Identifier (lower-case snake_case), unique in the dataset; the key of the "
        "value in a record's `values`.",
        examples=["code"],
    )
    label: Annotated[Line, Field(max_length=100)] = Field(
        description="Chinese label the SPA shows (字段名), e.g. 学科代码."
    )
    type: str = Field(
        description="`text` (long, analysed) · `keyword` (exact) · `integer` · `number` · "
        "`date` (YYYY-MM-DD) · `boolean` · `ref:institutions|experts|outcomes` (an ID).",
        examples=["keyword"],
    )
    description: Annotated[Block, Field(max_length=2000)] | None = Field(
        None, description="Help text for the SPA."
    )
    multiple: bool = Field(False, description="The value is a list of values.")
    required: bool = Field(False, description="Every record must have a value (必填).")
    searchable: bool = Field(False, description="Full-text searched by `q` (text, keyword).")
    filterable: bool = Field(False, description="Usable in `filter=` (not text).")
    facetable: bool = Field(
        False, description="Counts by value in `facets=` (keyword, integer, boolean, enum, ref)."
    )
    sortable: bool = Field(False, description="Usable in `sort=` (single-valued, not text/ref).")
    restricted: bool = Field(
        False,
        description="Contact details and the like: returned only to admins and the record "
        "owner's editors, never put in the search index.",
    )
    enum: Annotated[
        Annotated[list[EnumOption], Field(max_length=MAX_ENUM_OPTIONS)] | None,
        BeforeValidator(_options),
    ] = Field(
        None,
        description='Allowed values (keyword or integer fields), e.g. `["A", "B"]` or '
        '`[{"value": "A", "label": "数理"}]`.',
    )

    @field_validator("name")
    @classmethod
    def check_name(cls, value: str) -> str:
        if not _FIELD_NAME.match(value):
            raise ValueError(
                f"field name {value[:40]!r} must be an identifier: lower-case a-z, digits and "
                "'_', starting with a letter, at most 64 characters (e.g. parent_code)"
            )
        return value

    @field_validator("type")
    @classmethod
    def check_type(cls, value: str) -> str:
        value = value.strip()
        if value not in FIELD_TYPES:
            raise ValueError(f"unknown type {value[:40]!r}; use one of {', '.join(FIELD_TYPES)}")
        return value

    @model_validator(mode="after")
    def check_flags(self) -> FieldDefinition:
        where = f"field '{self.name}'"
        if self.enum is not None:
            self.enum = _checked_options(where, self.type, self.enum)
        if self.multiple and self.type == "boolean":
            raise ValueError(f"{where}: a boolean cannot be multiple")
        if self.searchable and self.type not in SEARCH_TYPES:
            raise ValueError(f"{where}: only text and keyword fields can be searchable")
        if self.filterable and self.type == "text":
            raise ValueError(
                f"{where}: text is analysed for search, so it cannot be a filter; "
                "use a keyword field for exact-match filters"
            )
        if self.facetable and self.type not in FACET_TYPES:
            raise ValueError(
                f"{where}: facets are counted on keyword, integer, boolean, enum or ref "
                f"fields, not on {self.type}"
            )
        if self.sortable and (self.multiple or self.type not in SORT_TYPES):
            raise ValueError(
                f"{where}: only single-valued keyword, integer, number, date or boolean "
                "fields can be sortable"
            )
        if self.restricted and (
            self.searchable or self.filterable or self.facetable or self.sortable
        ):
            raise ValueError(
                f"{where}: a restricted field never enters the search index, so it cannot be "
                "searchable, filterable, facetable or sortable"
            )
        return self


def _checked_options(where: str, type_: str, options: list[EnumOption]) -> list[EnumOption]:
    if type_ not in ENUM_TYPES:
        raise ValueError(f"{where}: enum is only for keyword or integer fields, not {type_}")
    if not options:
        raise ValueError(f"{where}: enum needs at least one allowed value (or leave it out)")
    seen: set[str | int] = set()
    result = []
    for option in options:
        value = option.value
        if type_ == "integer" and not isinstance(value, int):
            raise ValueError(f"{where}: enum value {value!r} is not an integer")
        if type_ == "keyword":
            if not isinstance(value, str):
                raise ValueError(f"{where}: enum value {value!r} must be a string")
            value = clean_line(value)
            if not value or len(value) > MAX_KEYWORD_LENGTH:
                raise ValueError(f"{where}: enum values must be 1-{MAX_KEYWORD_LENGTH} characters")
        if value in seen:
            raise ValueError(f"{where}: enum value {value!r} is listed twice")
        seen.add(value)
        result.append(EnumOption(value=value, label=option.label))
    return result


EXAMPLE_DATASET: JsonDict = {
    "slug": "frontier-questions",
    "name": "重大科学问题和工程技术难题",
    "name_en": "Major scientific questions and engineering challenges",
    "visibility": "public",
    "title_field": "question",
    "fields": [
        {"name": "question", "label": "问题", "type": "text", "required": True, "searchable": True},
        {"name": "year", "label": "发布年份", "type": "integer", "filterable": True,
         "facetable": True, "sortable": True},
        {"name": "kind", "label": "类别", "type": "keyword", "facetable": True,
         "enum": [{"value": "science", "label": "前沿科学问题"},
                  {"value": "engineering", "label": "工程技术难题"}]},
        {"name": "institutions", "label": "推荐单位", "type": "ref:institutions",
         "multiple": True, "facetable": True},
    ],
}  # fmt: skip


class DatasetFields(BaseModel):
    """A special database's definition (特色数据库), as an admin writes it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_DATASET]})

    slug: Slug = Field(
        description="URL name: lower-case a-z, 0-9 and '-', 2-64 characters, not a reserved word."
    )
    name: Name = Field(description="Chinese name (数据库名称).")
    name_en: Annotated[Line, Field(max_length=300)] | None = Field(
        None, description="English name."
    )
    description: Block | None = Field(None, description="What the collection is (简介).")
    visibility: Visibility = Field(
        Visibility.PUBLIC,
        description="公开 public · 合作单位 partner · 内部 internal; applies to every record.",
    )
    fields: Annotated[list[FieldDefinition], Field(min_length=1, max_length=MAX_FIELDS)] = Field(
        description="The typed fields of every record; a PATCH replaces the whole list."
    )
    title_field: str = Field(
        description="The text or keyword field shown as a record's title (e.g. `name`)."
    )
    owner_org: Org | None = Field(
        None, description="Owning organisation; defaults to the admin's own."
    )

    @field_validator("slug")
    @classmethod
    def valid_slug(cls, value: str) -> str:
        return check_slug(value)

    @field_validator("fields")
    @classmethod
    def unique_names(cls, fields: list[FieldDefinition]) -> list[FieldDefinition]:
        names = [f.name for f in fields]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"field names must be unique; listed twice: {', '.join(twice)}")
        return fields

    @field_validator("title_field")
    @classmethod
    def title_names_a_text_field(cls, value: str, info: ValidationInfo) -> str:
        fields: list[FieldDefinition] | None = info.data.get("fields")
        if fields is None:
            return value  # the fields themselves are invalid; that error is reported
        field = next((f for f in fields if f.name == value), None)
        if field is None:
            raise ValueError(
                f"title_field {value[:64]!r} is not one of the fields "
                f"({', '.join(f.name for f in fields)})"
            )
        if field.type not in ("text", "keyword") or field.multiple or field.restricted:
            raise ValueError(
                f"title_field {value!r} must name a single-valued, unrestricted text or keyword "
                f"field; it is {'multiple ' if field.multiple else ''}{field.type}"
            )
        return value


class DatasetCreate(DatasetFields):
    """Body of `POST /datasets`."""


class DatasetRead(BaseModel):
    """A dataset definition as returned by the API."""

    id: str = Field(description="Internal ID (`dst_…`); URLs use the slug.")
    slug: str
    name: str
    name_en: str | None = None
    description: str | None = None
    visibility: Visibility
    visibility_label: str = Field(description="Chinese label of `visibility`.")
    fields: list[FieldSpec]
    title_field: str
    owner_org: str
    version: int = Field(description="Increments on every change; the ETag is derived from it.")
    created_at: datetime
    updated_at: datetime
    record_count: int = Field(description="Live records in the dataset.")


class DatasetPatch(MergePatch, fields=DatasetFields, read=DatasetRead):
    """Body of `PATCH /datasets/{slug}` (JSON merge patch; `fields` replaces the whole list)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"visibility": "partner", "description": None}]},
    )


# --- records ------------------------------------------------------------------------------


class RecordFields(BaseModel):
    """The writable parts of a dataset record; `values` is checked against the definition."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "values": {
                        "code": "A0101",
                        "name": "数论",
                        "parent_code": "A01",
                        "level": 2,
                        "division": "A",
                        "is_leaf": False,
                    }
                }
            ]
        },
    )

    values: dict[str, Any] = Field(
        default_factory=dict,
        description="Values keyed by field name; omit (or send null for) a field without a value.",
    )
    owner_org: OwnerOrgField = None
    source: SourceField = None
    external_id: ExternalIdField = None

    @model_validator(mode="after")
    def source_with_external_id(self) -> RecordFields:
        check_import_key(self.source, self.external_id)
        return self


class RecordCreate(RecordFields):
    """Body of `POST /datasets/{slug}/records`."""


class RecordRead(RecordMeta):
    """A dataset record as returned by the API."""

    dataset: str = Field(description="Slug of the dataset the record belongs to.")
    title: str | None = Field(description="The value of the dataset's `title_field`.")
    values: dict[str, Any] = Field(
        description="Every field of the dataset, null when the record has no value."
    )
    labels: dict[str, Any] = Field(
        description='Labels of enum values, e.g. `{"division": "数理"}`.'
    )


class RecordPatch(MergePatch, fields=RecordFields, read=RecordRead):
    """Body of a record `PATCH` (JSON merge patch): `{"values": {"year": null}}` clears one."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"values": {"name_en": "Number theory"}}]}
    )


# A special database's records, as the gateway serves them at /datasets/{slug}/records.
SCHEMAS = RecordSchemas(RecordFields, RecordCreate, RecordPatch, RecordRead)
