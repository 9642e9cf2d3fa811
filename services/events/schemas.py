"""Request and response schemas of the event record (活动)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
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
from services.kernel.fields import RecordRead
from services.kernel.fields import RecordSchemas
from services.kernel.fields import SourceField
from services.kernel.fields import TextList
from services.kernel.fields import Url
from services.kernel.fields import check_import_key
from services.kernel.fields import record_ref
from services.kernel.labelled import LabelledEnum
from services.kernel.merge_patch import MergePatch
from services.kernel.visibility import Visibility
from services.outcomes.library import LIBRARY as OUTCOMES
from services.vocabularies.disciplines import DisciplineCode


class EventKind(LabelledEnum):
    FORUM = "forum", "论坛"
    SYMPOSIUM = "symposium", "座谈会"
    SEMINAR = "seminar", "研讨会"
    SURVEY = "survey", "调研"
    TRAINING = "training", "培训"
    OTHER = "other", "其他"


KIND_LABELS: dict[EventKind, str] = EventKind.labels()


class ParticipantRole(LabelledEnum):
    SPEAKER = "speaker", "主讲"
    HOST = "host", "主持"
    ATTENDEE = "attendee", "参会"


ROLE_LABELS: dict[ParticipantRole, str] = ParticipantRole.labels()

MAX_PARTICIPANTS = 1000
# The platform's events began with its work plan; a date far outside is a typo.
EARLIEST_YEAR = 1949

ExpertId = Annotated[RecordId, record_ref(EXPERTS)]
InstitutionId = Annotated[RecordId, record_ref(INSTITUTIONS)]
OutcomeId = Annotated[RecordId, record_ref(OUTCOMES)]
RegionCode = Annotated[str, AfterValidator(identifiers.normalize_region_code)]


class Participant(BaseModel):
    """One participant: a platform expert, a name as announced, or both, in a role."""

    model_config = ConfigDict(extra="forbid")

    expert_id: ExpertId | None = Field(None, description="The participant's expert record.")
    name: Name | None = Field(None, description="The name as announced (嘉宾姓名).")
    role: ParticipantRole = Field(
        ParticipantRole.ATTENDEE, description="主讲 speaker · 主持 host · 参会 attendee"
    )
    affiliation: Annotated[Line, Field(max_length=300)] | None = Field(
        None, description="Affiliation as announced, free text."
    )

    @model_validator(mode="after")
    def identified(self) -> Participant:
        if self.expert_id is None and self.name is None:
            raise ValueError("give expert_id (an exp_… ID) or name (as announced), or both")
        return self


EXAMPLE: JsonDict = {
    "title": "智汇双月谈：科技自立自强与新型举国体制",
    "kind": "symposium",
    "series": "智汇双月谈",
    "series_number": 12,
    "starts_on": "2023-06-16",
    "region_code": "110108",
    "city": "北京",
    "venue": "中国科技会堂",
    "participants": [{"name": "张三", "role": "speaker"}],
    "topics": ["新型举国体制"],
    "keywords": ["科技自立自强"],
    "visibility": "public",
}


class EventFields(BaseModel):
    """The writable fields of an event, validated as users expect."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    title: Annotated[Line, Field(max_length=500)] = Field(description="Title (活动名称).")
    kind: EventKind = Field(
        EventKind.OTHER,
        description="论坛 forum · 座谈会 symposium · 研讨会 seminar · 调研 survey · "
        "培训 training · 其他 other",
    )
    series: Annotated[Line, Field(max_length=200)] | None = Field(
        None, description="The recurring event it belongs to, e.g. 智汇双月谈."
    )
    series_number: int | None = Field(
        None, ge=1, le=100_000, description="Its number in the series (第 N 期); unique in it."
    )
    starts_on: date = Field(description="First day (ISO 8601, e.g. 2023-06-16).")
    ends_on: date | None = Field(None, description="Last day, if it lasts more than one.")
    region_code: RegionCode | None = Field(
        None, description="Where it is held: GB/T 2260 region code (行政区划代码), e.g. 110108."
    )
    province: Annotated[Line, Field(max_length=50)] | None = Field(
        None, description="Province (省份); filled from `region_code` when omitted."
    )
    city: Annotated[Line, Field(max_length=100)] | None = Field(None, description="City (城市).")
    venue: Annotated[Line, Field(max_length=300)] | None = Field(
        None, description="Venue (地点), e.g. 中国科技会堂."
    )
    organiser_ids: Annotated[list[InstitutionId], Field(max_length=50)] = Field(
        default_factory=list, description="Organisers (主办单位), `ins_…` IDs."
    )
    co_organiser_ids: Annotated[list[InstitutionId], Field(max_length=100)] = Field(
        default_factory=list, description="Co-organisers (承办/协办单位), `ins_…` IDs."
    )
    participants: Annotated[list[Participant], Field(max_length=MAX_PARTICIPANTS)] = Field(
        default_factory=list, description="Speakers, hosts and attendees, in the order given."
    )
    topics: TextList = Field(default_factory=list, description="Topics (议题).")
    keywords: TextList = Field(default_factory=list, description="Keywords (关键词).")
    disciplines: Annotated[list[DisciplineCode], Field(max_length=20)] = Field(
        default_factory=list,
        description="NSFC discipline codes (学科), e.g. G0203, or their exact Chinese names.",
    )
    summary: Block | None = Field(None, description="Summary or minutes (活动综述/纪要).")
    outcome_ids: Annotated[list[OutcomeId], Field(max_length=100)] = Field(
        default_factory=list, description="Outcomes it produced (成果), `out_…` IDs."
    )
    visibility: Visibility = Field(
        Visibility.INTERNAL,
        description="公开 public · 合作单位 partner · 内部 internal (only the owning organisation "
        "and admins). Defaults to internal: a record is published only when someone says so.",
    )
    url: Url | None = Field(None, description="Where the event is announced or reported.")
    owner_org: OwnerOrgField = None
    source: SourceField = None
    external_id: ExternalIdField = None

    @model_validator(mode="after")
    def check_consistency(self) -> EventFields:
        check_import_key(self.source, self.external_id)
        if self.series_number is not None and self.series is None:
            raise ValueError("series_number needs series: the recurring event it numbers")
        for day in (self.starts_on, self.ends_on):
            if day is not None and not EARLIEST_YEAR <= day.year <= date.today().year + 2:
                raise ValueError(f"{day.isoformat()} is out of range; check the year")
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError(
                f"ends_on {self.ends_on.isoformat()} is before starts_on "
                f"{self.starts_on.isoformat()}; swap them or correct one"
            )
        self.province = identifiers.reconciled_province(self.region_code, self.province)
        self.organiser_ids = list(dict.fromkeys(self.organiser_ids))
        both = set(self.organiser_ids)
        self.co_organiser_ids = [i for i in dict.fromkeys(self.co_organiser_ids) if i not in both]
        self.disciplines = list(dict.fromkeys(self.disciplines))
        self.outcome_ids = list(dict.fromkeys(self.outcome_ids))
        experts = [p.expert_id for p in self.participants if p.expert_id]
        if len(experts) != len(set(experts)):
            raise ValueError("an expert is listed twice in participants; give each one role")
        return self


class EventCreate(EventFields):
    """Body of `POST /events`."""


class EventRead(RecordRead, EventFields, extra="ignore"):
    """An event as returned by the API."""

    owner_org: str
    kind_label: str = Field(description="Chinese label of `kind`, e.g. 座谈会.")
    visibility_label: str = Field(description="Chinese label of `visibility`, e.g. 公开.")


class EventPatch(MergePatch, fields=EventFields, read=EventRead):
    """Body of `PATCH` (JSON merge patch): only the fields to change; `null` clears a field."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"visibility": "public", "venue": None}]},
    )


SCHEMAS = RecordSchemas(EventFields, EventCreate, EventPatch, EventRead)
