"""Request and response schemas of the institution record (API.md, "Institution")."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from typing import Any

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import model_validator
from pydantic.json_schema import JsonDict

from services.institutions.library import LIBRARY
from services.kernel import identifiers
from services.kernel.fields import Block
from services.kernel.fields import ExternalIdField
from services.kernel.fields import Line
from services.kernel.fields import Name
from services.kernel.fields import NameList
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


class InstitutionType(LabelledEnum):
    UNIVERSITY = "university", "高校"
    RESEARCH_INSTITUTE = "research_institute", "科研院所"
    SOCIETY = "society", "学会"
    THINK_TANK = "think_tank", "智库"
    ENTERPRISE = "enterprise", "企业"
    GOVERNMENT = "government", "政府机构"
    HOSPITAL = "hospital", "医疗机构"
    OTHER = "other", "其他"


TYPE_LABELS: dict[InstitutionType, str] = InstitutionType.labels()


class InstitutionStatus(LabelledEnum):
    ACTIVE = "active", "正常"
    INACTIVE = "inactive", "已撤销"
    MERGED = "merged", "已合并"


STATUS_LABELS: dict[InstitutionStatus, str] = InstitutionStatus.labels()


def _as_validator(normalize: Any) -> AfterValidator:
    return AfterValidator(normalize)


Uscc = Annotated[str, _as_validator(identifiers.normalize_uscc)]
RorId = Annotated[str, _as_validator(identifiers.normalize_ror)]
RegionCode = Annotated[str, _as_validator(identifiers.normalize_region_code)]
InstitutionId = Annotated[RecordId, record_ref(LIBRARY)]


EXAMPLE: JsonDict = {
    "name": "清华大学",
    "name_en": "Tsinghua University",
    "aliases": ["国立清华大学"],
    "acronyms": ["THU"],
    "type": "university",
    "region_code": "110108",
    "city": "北京市",
    "website": "https://www.tsinghua.edu.cn",
    "uscc": "12100000400000624D",
    "ror_id": "03cve4549",
    "established_year": 1911,
    "status": "active",
    "tags": ["双一流"],
}


class InstitutionFields(BaseModel):
    """The writable fields of an institution, validated as users expect."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    name: Name = Field(description="Official Chinese name (机构名称).")
    name_en: Annotated[Line, Field(max_length=300)] | None = Field(
        None, description="English name."
    )
    aliases: NameList = Field(
        default_factory=list, description="Other names, former names (别名、曾用名)."
    )
    acronyms: NameList = Field(default_factory=list, description="Acronyms (简称), e.g. THU, 清华.")
    type: InstitutionType = Field(
        InstitutionType.OTHER,
        description="高校 university · 科研院所 research_institute · 学会 society · "
        "智库 think_tank · 企业 enterprise · 政府机构 government · 医疗机构 hospital · 其他 other",
    )
    parent_id: InstitutionId | None = Field(
        None, description="Parent institution ID (上级机构), `ins_…`."
    )
    region_code: RegionCode | None = Field(
        None, description="GB/T 2260 administrative division code (行政区划代码), 6 digits."
    )
    province: Annotated[Line, Field(max_length=32)] | None = Field(
        None, description="Province (省份); filled from `region_code` when omitted."
    )
    city: Annotated[Line, Field(max_length=64)] | None = Field(None, description="City (城市).")
    website: Url | None = Field(None, description="Home page; `https://` is added when missing.")
    uscc: Uscc | None = Field(
        None, description="统一社会信用代码 (18 characters, GB 32100-2015 checksum verified)."
    )
    ror_id: RorId | None = Field(
        None, description="ROR ID, bare (`03cve4549`) or as a ror.org URL."
    )
    established_year: int | None = Field(None, ge=1000, description="Year founded (成立年份).")
    status: InstitutionStatus = Field(
        InstitutionStatus.ACTIVE, description="正常 active · 已撤销 inactive · 已合并 merged"
    )
    merged_into: InstitutionId | None = Field(
        None, description="Successor institution ID; required when merged."
    )
    description: Block | None = Field(None, description="Description (简介).")
    tags: TextList = Field(default_factory=list, description="Free tags (标签), e.g. 双一流.")
    owner_org: OwnerOrgField = None
    source: SourceField = None
    external_id: ExternalIdField = None

    @model_validator(mode="after")
    def check_consistency(self) -> InstitutionFields:
        if self.established_year is not None and self.established_year > date.today().year:
            raise ValueError(
                f"established_year {self.established_year} is in the future; give the year founded"
            )
        if self.status is InstitutionStatus.MERGED and not self.merged_into:
            raise ValueError(
                "status 'merged' needs merged_into: the ID of the successor institution"
            )
        if self.merged_into and self.status is not InstitutionStatus.MERGED:
            raise ValueError("merged_into is only allowed with status 'merged'")
        check_import_key(self.source, self.external_id)
        self.province = identifiers.reconciled_province(self.region_code, self.province)
        return self


class InstitutionCreate(InstitutionFields):
    """Body of `POST /institutions`."""


class InstitutionRead(RecordRead, InstitutionFields, extra="ignore"):
    """An institution as returned by the API."""

    type_label: str = Field(description="Chinese label of `type`, e.g. 高校.")
    status_label: str = Field(description="Chinese label of `status`.")
    owner_org: str


class InstitutionPatch(MergePatch, fields=InstitutionFields, read=InstitutionRead):
    """Body of `PATCH` (JSON merge patch): only the fields to change; `null` clears a field."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name_en": "Tsinghua University", "city": None}]},
    )


SCHEMAS = RecordSchemas(InstitutionFields, InstitutionCreate, InstitutionPatch, InstitutionRead)
