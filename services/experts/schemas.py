"""Request and response schemas of the expert record (API.md, "Expert")."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Annotated
from typing import Any

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import SerializerFunctionWrapHandler
from pydantic import TypeAdapter
from pydantic import ValidationInfo
from pydantic import field_validator
from pydantic import model_serializer
from pydantic import model_validator
from pydantic.json_schema import JsonDict

from services.institutions.library import LIBRARY as INSTITUTIONS
from services.kernel import identifiers
from services.kernel.fields import Block
from services.kernel.fields import ExternalIdField
from services.kernel.fields import Line
from services.kernel.fields import Name
from services.kernel.fields import OwnerOrgField
from services.kernel.fields import RecordId
from services.kernel.fields import RecordMeta
from services.kernel.fields import RecordRead
from services.kernel.fields import RecordSchemas
from services.kernel.fields import SourceField
from services.kernel.fields import TextList
from services.kernel.fields import Url
from services.kernel.fields import check_import_key
from services.kernel.fields import record_ref
from services.kernel.merge_patch import MergePatch
from services.vocabularies.disciplines import DisciplineCode
from services.vocabularies.disciplines import disciplines as discipline_vocabulary

# Contact details: stored and returned to signed-in roles, never published in the change feed.
RESTRICTED_FIELDS = ("email", "phone")

# Maintained by the platform: derived from other fields or by the record lifecycle.
DERIVED_FIELDS = ("name_pinyin", "name_initials")

MAX_AFFILIATIONS = 50
MAX_DISCIPLINES = 50
EARLIEST_YEAR = 1900

EXAMPLE: JsonDict = {
    "name": "张三",
    "name_en": "Zhang San",
    "title": "研究员",
    "honors": ["中国科学院院士"],
    "affiliations": [
        {
            "institution_id": "ins_01jb3k8v6q2x9c4m7n5p",
            "department": "计算技术研究所",
            "position": "所长",
            "primary": True,
            "start_year": 2015,
        }
    ],
    "disciplines": ["F0201", "人工智能与知识工程"],
    "research_areas": ["机器学习", "科技政策"],
    "orcid": "0000-0002-1825-0097",
    "homepage": "https://example.ac.cn/~zhangsan",
    "email": "zhangsan@example.ac.cn",
    "phone": "+86 10 6275 1234",
}


def _latest_start_year() -> int:
    # An appointment announced for next year is plausible; later is a typo.
    return date.today().year + 1


def _dedupe_codes(codes: list[str]) -> list[str]:
    return list(dict.fromkeys(codes))


# Deliberately a shape check, not RFC 5322: one @, no spaces, a dotted domain. Messages never
# echo the value (it is restricted data and error bodies end up in logs).
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


def _email(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).strip()
    if not _EMAIL.match(text) or ".." in text or len(text.split("@")[0]) > 64:
        raise ValueError("must be an e-mail address like name@example.edu.cn")
    local, domain = text.split("@")
    # Domains are case-insensitive; the local part is kept as given.
    return f"{local}@{domain.lower()}"


_PHONE_CHARS = re.compile(r"^\+?[0-9()\- ]+$")


def _phone(value: str) -> str:
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", value)).strip()
    if not _PHONE_CHARS.match(text):
        raise ValueError(
            "may contain only digits, spaces, '-', parentheses and a leading '+', "
            "e.g. +86 10 6275 1234"
        )
    digits = sum(ch.isdigit() for ch in text)
    if not 6 <= digits <= 20:
        raise ValueError(f"must have 6 to 20 digits, got {digits}")
    return text


Orcid = Annotated[str, AfterValidator(identifiers.normalize_orcid)]
Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
Phone = Annotated[str, Field(max_length=40), AfterValidator(_phone)]
InstitutionId = Annotated[RecordId, record_ref(INSTITUTIONS)]


class Affiliation(BaseModel):
    """One post at one institution (任职)."""

    model_config = ConfigDict(extra="forbid")

    institution_id: InstitutionId = Field(description="Institution ID (`ins_…`); must exist.")
    department: Annotated[Line, Field(max_length=200)] | None = Field(
        None, description="Department or school (院系/部门)."
    )
    position: Annotated[Line, Field(max_length=200)] | None = Field(
        None, description="Position held (职务), e.g. 院长."
    )
    primary: bool = Field(
        False, description="The main affiliation; if none is marked, the first one is."
    )
    start_year: int | None = Field(None, ge=EARLIEST_YEAR, description="Year the post began.")
    end_year: int | None = Field(
        None, ge=EARLIEST_YEAR, le=2200, description="Year it ended; omit while current."
    )

    @field_validator("start_year")
    @classmethod
    def not_in_future(cls, value: int | None) -> int | None:
        if value is not None and value > _latest_start_year():
            raise ValueError(f"start_year {value} is in the future")
        return value

    @field_validator("end_year")
    @classmethod
    def not_before_start(cls, value: int | None, info: ValidationInfo) -> int | None:
        start = info.data.get("start_year")
        if value is not None and start is not None and value < start:
            raise ValueError(
                f"end_year {value} is before start_year {start}; swap them or correct one"
            )
        return value


def _one_primary(affiliations: list[Affiliation]) -> list[Affiliation]:
    marked = [i for i, a in enumerate(affiliations) if a.primary]
    if len(marked) > 1:
        raise ValueError(
            f"at most one affiliation may be primary; entries {', '.join(map(str, marked))} are"
        )
    if affiliations and not marked:
        affiliations[0] = affiliations[0].model_copy(update={"primary": True})
    return affiliations


Affiliations = Annotated[
    list[Affiliation], Field(max_length=MAX_AFFILIATIONS), AfterValidator(_one_primary)
]
AFFILIATIONS = TypeAdapter(Affiliations)


class ExpertFields(BaseModel):
    """The writable fields of an expert, validated as users expect."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    name: Name = Field(description="Name in Chinese (姓名), or as the expert writes it.")
    name_en: Annotated[Line, Field(max_length=300)] | None = Field(
        None, description="Name in English or pinyin, e.g. Zhang San."
    )
    title: Annotated[Line, Field(max_length=100)] | None = Field(
        None, description="Professional title (职称), free text, e.g. 教授, 研究员."
    )
    honors: TextList = Field(
        default_factory=list, description="Honours (荣誉称号), e.g. 中国科学院院士."
    )
    affiliations: Affiliations = Field(
        default_factory=list, description="Posts at institutions (任职机构), at most one primary."
    )
    disciplines: Annotated[
        list[DisciplineCode], Field(max_length=MAX_DISCIPLINES), AfterValidator(_dedupe_codes)
    ] = Field(
        default_factory=list,
        description="NSFC discipline codes (学科代码) such as F0201, or their exact Chinese "
        "names (人工智能); stored as codes.",
    )
    research_areas: TextList = Field(
        default_factory=list, description="Research areas (研究方向), free text."
    )
    bio: Block | None = Field(None, description="Biography (个人简介).")
    orcid: Orcid | None = Field(
        None,
        description="ORCID iD (checksum verified), bare or as an orcid.org URL; "
        "stored as 0000-0002-1825-0097.",
    )
    homepage: Url | None = Field(None, description="Personal or lab home page.")
    email: Email | None = Field(
        None, description="Restricted: returned to signed-in callers only; never indexed."
    )
    phone: Phone | None = Field(
        None,
        description="Restricted: digits, spaces, '-', parentheses and a leading '+' "
        "(6–20 digits); returned to signed-in callers only; never indexed.",
    )
    owner_org: OwnerOrgField = None
    source: SourceField = None
    external_id: ExternalIdField = None

    @model_validator(mode="after")
    def check_consistency(self) -> ExpertFields:
        check_import_key(self.source, self.external_id)
        return self


class ExpertCreate(ExpertFields):
    """Body of `POST /experts`."""


class ExpertRead(RecordRead, ExpertFields, extra="ignore"):
    """An expert as returned by the API; `email` and `phone` are absent for anonymous callers."""

    owner_org: str
    name_pinyin: str = Field(description="Toneless pinyin of `name`, e.g. `zhang san` (derived).")
    name_initials: str = Field(description="Pinyin initials of `name`, e.g. `zs` (derived).")
    disciplines_labels: list[str] = Field(
        default_factory=list, description="Chinese names of `disciplines`, in the same order."
    )

    @model_validator(mode="after")
    def add_labels(self) -> ExpertRead:
        vocabulary = discipline_vocabulary()
        self.disciplines_labels = [vocabulary.label(code) for code in self.disciplines]
        return self

    # No return annotation on purpose: with one, pydantic documents the response as a bare
    # object instead of the fields above.
    @model_serializer(mode="wrap")
    def omit_withheld(self, handler: SerializerFunctionWrapHandler):
        # Withheld restricted fields are left unset (see `from_record`) and then left out of
        # the JSON entirely, so an anonymous caller cannot even tell whether they exist.
        data: dict[str, Any] = handler(self)
        for field in RESTRICTED_FIELDS:
            if field not in self.model_fields_set:
                data.pop(field, None)
        return data

    @classmethod
    def from_record(cls, record: Any, *, include_restricted: bool) -> ExpertRead:
        names = (*ExpertFields.model_fields, *DERIVED_FIELDS, *RecordMeta.model_fields)
        data = {name: getattr(record, name) for name in names}
        if not include_restricted:
            for field in RESTRICTED_FIELDS:
                data.pop(field)
        return cls.model_validate(data)


class ExpertPatch(MergePatch, fields=ExpertFields, read=ExpertRead):
    """Body of `PATCH` (JSON merge patch): only the fields to change; `null` clears a field.

    Lists (`affiliations`, `disciplines`, …) are replaced as a whole, as RFC 7396 says.
    """

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"title": "教授", "phone": None}]},
    )


SCHEMAS = RecordSchemas(ExpertFields, ExpertCreate, ExpertPatch, ExpertRead)
