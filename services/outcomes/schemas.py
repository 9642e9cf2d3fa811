"""Request and response schemas of the outcome record (API.md, "Outcome")."""

from __future__ import annotations

import itertools
import re
import unicodedata
from datetime import date
from enum import StrEnum
from typing import Annotated
from typing import Any

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import Field
from pydantic import field_validator
from pydantic import model_validator
from pydantic.json_schema import JsonDict

from services.experts.library import LIBRARY as EXPERTS
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
from services.kernel.fields import clean_block
from services.kernel.fields import record_ref
from services.kernel.labelled import LabelledEnum
from services.kernel.merge_patch import MergePatch
from services.kernel.visibility import Visibility
from services.vocabularies.disciplines import DisciplineCode


class OutcomeType(LabelledEnum):
    RESEARCH_REPORT = "research_report", "研究报告"
    POLICY_BRIEF = "policy_brief", "政策建议"
    INTERNAL_REFERENCE = "internal_reference", "内参"
    SPECIAL_REPORT = "special_report", "专报"
    EXPRESS_REPORT = "express_report", "快报"
    PAPER = "paper", "论文"
    BOOK = "book", "专著"
    STANDARD = "standard", "标准"
    OTHER = "other", "其他"


TYPE_LABELS: dict[OutcomeType, str] = OutcomeType.labels()


class DatePrecision(StrEnum):
    YEAR = "year"
    MONTH = "month"
    DAY = "day"


MAX_FULL_TEXT_CHARS = 2_000_000
MAX_AUTHORS = 500
EARLIEST_YEAR = 1800

# ISO 639-1 (the two-letter codes; deprecated "bh" left out).
_ISO_639_1_CODES = (
    "aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy "
    "da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht "
    "hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky "
    "la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny "
    "oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss "
    "st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo "
    "za zh zu"
)
ISO_639_1 = frozenset(_ISO_639_1_CODES.split())

# "2021", "2021-05", "2021-05-12", and the Chinese forms "2021年", "2021年5月", "2021年5月12日".
_PUBLISHED = re.compile(
    r"^(?P<y>\d{4})(?:(?:-|年)(?P<m>\d{1,2})(?:(?:-|月)(?P<d>\d{1,2})日?|月)?|年)?$"
)


def parse_published(value: str) -> tuple[date, DatePrecision]:
    """A publication date of year, month or day precision: its first day and the precision."""
    text = unicodedata.normalize("NFKC", value).strip()
    match = _PUBLISHED.match(text)
    if not match:
        raise ValueError(
            f"give an ISO date (2021-05-12), a month (2021-05) or a year (2021); got {value[:20]!r}"
        )
    year, month, day = match.group("y", "m", "d")
    precision = DatePrecision.DAY if day else DatePrecision.MONTH if month else DatePrecision.YEAR
    try:
        first = date(int(year), int(month or 1), int(day or 1))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a calendar date ({exc})") from exc
    if first.year < EARLIEST_YEAR or first.year > date.today().year + 1:
        raise ValueError(
            f"year {first.year} is out of range; give the year the outcome was published"
        )
    return first, precision


def format_published(value: date, precision: str | None) -> str:
    """The date in ISO 8601 at its precision: 2021, 2021-05 or 2021-05-12."""
    if precision == DatePrecision.YEAR:
        return f"{value.year:04d}"
    if precision == DatePrecision.MONTH:
        return f"{value.year:04d}-{value.month:02d}"
    return value.isoformat()


def _published(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a bare JSON number such as 2021 is a year
    if isinstance(value, str):
        first, precision = parse_published(value)
        return format_published(first, precision)
    return value


def _language(value: str) -> str:
    # "zh-CN", "en_US": the primary subtag is the ISO 639-1 code.
    code = re.split(r"[-_]", unicodedata.normalize("NFKC", value).strip().lower(), maxsplit=1)[0]
    if code not in ISO_639_1:
        raise ValueError(
            f"{value[:20]!r} is not an ISO 639-1 language code; use two letters, e.g. zh or en"
        )
    return code


def _doi(value: str) -> str:
    doi = identifiers.normalize_doi(value)
    if len(doi) > 300:
        raise ValueError("DOI is longer than 300 characters; check what was pasted")
    return doi


def _full_text(value: str) -> str:
    # Control and bidi characters are refused, but the body is stored exactly as sent (no
    # trimming): a document must come back byte-identical.
    clean_block(value)
    if not value.strip():
        raise ValueError("must not be blank; omit full_text (or send null) when there is none")
    return value


ExpertId = Annotated[RecordId, record_ref(EXPERTS)]
InstitutionId = Annotated[RecordId, record_ref(INSTITUTIONS)]
Doi = Annotated[str, AfterValidator(_doi), Field(max_length=400)]
Language = Annotated[str, AfterValidator(_language), Field(max_length=16)]
PublishedOn = Annotated[str, BeforeValidator(_published)]
FullText = Annotated[str, AfterValidator(_full_text), Field(max_length=MAX_FULL_TEXT_CHARS)]


class Author(BaseModel):
    """One author: a platform expert, a name as printed, or both."""

    model_config = ConfigDict(extra="forbid")

    expert_id: ExpertId | None = Field(None, description="The author's expert record, `exp_…`.")
    name: Name | None = Field(None, description="The name as printed on the outcome (署名).")
    order: int | None = Field(
        None, ge=1, le=10_000, description="Position in the byline, from 1; defaults to position."
    )
    affiliation: Annotated[Line, Field(max_length=300)] | None = Field(
        None, description="Affiliation as printed (作者单位), free text."
    )

    @model_validator(mode="after")
    def identified(self) -> Author:
        if self.expert_id is None and self.name is None:
            raise ValueError("give expert_id (an exp_… ID) or name (as printed), or both")
        return self


EXAMPLE: JsonDict = {
    "title": "关于加快建设科技强国的若干建议",
    "abstract": "围绕基础研究投入、科技人才评价和成果转化提出三条建议。",
    "type": "policy_brief",
    "series": "《科技工作者建议》",
    "authors": [{"name": "张三", "affiliation": "中国科学技术协会"}],
    "published_on": "2023-05",
    "keywords": ["科技强国", "基础研究"],
    "disciplines": ["G0203"],
    "language": "zh",
    "visibility": "partner",
}


class OutcomeContent(BaseModel):
    """The writable fields of an outcome except its full text, validated as users expect."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    title: Annotated[Line, Field(max_length=500)] = Field(description="Title (题名).")
    abstract: Block | None = Field(None, description="Abstract or summary (摘要).")
    type: OutcomeType = Field(
        OutcomeType.OTHER,
        description="研究报告 research_report · 政策建议 policy_brief · 内参 internal_reference · "
        "专报 special_report · 快报 express_report · 论文 paper · 专著 book · 标准 standard · "
        "其他 other",
    )
    series: Annotated[Line, Field(max_length=200)] | None = Field(
        None, description="Series or bulletin (丛书/刊物), e.g. 《科技工作者建议》."
    )
    authors: Annotated[list[Author], Field(max_length=MAX_AUTHORS)] = Field(
        default_factory=list,
        description="Authors; `order` (1-based, unique) defaults to the position (authors "
        "without one take the lowest numbers not given). Returned sorted by `order`.",
    )
    institution_ids: Annotated[list[InstitutionId], Field(max_length=100)] = Field(
        default_factory=list, description="Institutions behind the outcome, `ins_…` IDs."
    )
    published_on: PublishedOn | None = Field(
        None,
        description="Publication date in ISO 8601 at the precision known: `2021-05-12`, "
        "`2021-05` or `2021` (also `2021年5月`). Returned at that precision; "
        "`published_precision` says which.",
    )
    keywords: TextList = Field(default_factory=list, description="Keywords (关键词).")
    disciplines: Annotated[list[DisciplineCode], Field(max_length=20)] = Field(
        default_factory=list,
        description="NSFC discipline codes (学科), e.g. F0201, or their exact Chinese names.",
    )
    language: Language = Field("zh", description="ISO 639-1 language code, e.g. zh, en.")
    visibility: Visibility = Field(
        Visibility.INTERNAL,
        description="公开 public · 合作单位 partner · 内部 internal (only the owning organisation "
        "and admins). Defaults to internal: a record is published only when someone says so.",
    )
    doi: Doi | None = Field(
        None, description="DOI, bare or as a doi.org URL; stored lower-cased, unique."
    )
    url: Url | None = Field(None, description="Where the outcome can be read online.")
    owner_org: OwnerOrgField = None
    source: SourceField = None
    external_id: ExternalIdField = None

    @field_validator("authors")
    @classmethod
    def number_authors(cls, authors: list[Author]) -> list[Author]:
        """Number unnumbered authors; orders and expert IDs must be unique.

        Authors without `order` take the smallest numbers not given explicitly, in list order,
        so with no orders at all the order is the position (1, 2, 3, …).
        """
        _refuse_repeats("order", [(i, a.order) for i, a in enumerate(authors) if a.order])
        taken = {a.order for a in authors}
        free = (n for n in itertools.count(1) if n not in taken)
        for author in authors:
            if author.order is None:
                author.order = next(free)
        _refuse_repeats(
            "expert_id", [(i, a.expert_id) for i, a in enumerate(authors) if a.expert_id]
        )
        return authors

    @field_validator("institution_ids", "disciplines")
    @classmethod
    def drop_repeats(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))

    @model_validator(mode="after")
    def check_consistency(self) -> OutcomeContent:
        check_import_key(self.source, self.external_id)
        return self


def _refuse_repeats(field: str, values: list[tuple[int, Any]]) -> None:
    seen: dict[Any, int] = {}
    for index, value in values:
        if value in seen:
            raise ValueError(
                f"authors {seen[value]} and {index} have the same {field} {value!r}; "
                f"each author's {field} must be unique"
            )
        seen[value] = index


class OutcomeFields(OutcomeContent):
    """All writable fields of an outcome: its content and the optional full text."""

    full_text: FullText | None = Field(
        None,
        description="Full text (全文), up to 2 000 000 characters, stored and returned exactly "
        "as sent. Left out of lists; `full_text_length` says how long it is.",
    )


class OutcomeCreate(OutcomeFields):
    """Body of `POST /outcomes`."""


class OutcomeSummary(RecordRead, OutcomeContent, extra="ignore"):
    """An outcome without its full text, as lists return it."""

    owner_org: str
    type_label: str = Field(description="Chinese label of `type`, e.g. 政策建议.")
    visibility_label: str = Field(description="Chinese label of `visibility`, e.g. 公开.")
    published_precision: DatePrecision | None = Field(
        None, description="Whether `published_on` is a year, a month or a day."
    )
    published_year: int | None = Field(None, description="Year of `published_on`.")
    full_text_length: int | None = Field(
        None, description="Characters in `full_text`; null when there is none."
    )

    @model_validator(mode="before")
    @classmethod
    def from_record(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            names = (*RecordMeta.model_fields, *OutcomeContent.model_fields, "full_text_length")
            if "full_text" in cls.model_fields:
                names = (*names, "full_text")
            record = data
            data = {name: getattr(record, name) for name in names}
            if record.published_on is not None:
                data["published_on"] = format_published(
                    record.published_on, record.published_precision
                )
        else:
            data = dict(data)
        published = _published(data.get("published_on"))
        data["published_on"] = published
        data["published_precision"] = _PRECISION_BY_LENGTH[len(published)] if published else None
        data["published_year"] = int(published[:4]) if published else None
        return data


_PRECISION_BY_LENGTH = {4: DatePrecision.YEAR, 7: DatePrecision.MONTH, 10: DatePrecision.DAY}


class OutcomeRead(OutcomeSummary):
    """An outcome as returned by the API, with its full text."""

    full_text: str | None = Field(None, description="Full text (全文), exactly as stored.")


class OutcomePatch(MergePatch, fields=OutcomeFields, read=OutcomeRead):
    """Body of `PATCH` (JSON merge patch): only the fields to change; `null` clears a field."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"visibility": "public", "series": None}]},
    )


SCHEMAS = RecordSchemas(
    OutcomeFields, OutcomeCreate, OutcomePatch, OutcomeRead, listed=OutcomeSummary
)
