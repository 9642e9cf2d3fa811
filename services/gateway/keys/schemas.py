"""Schemas of API keys: the admin routes' bodies and answers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

from services.kernel.fields import Name
from services.kernel.fields import Org

ROLE_LABELS = {"reader": "只读", "editor": "编辑", "admin": "管理员"}


class KeyRole(StrEnum):
    READER = "reader"
    EDITOR = "editor"
    ADMIN = "admin"


class KeyCreate(BaseModel):
    """Body of `POST /api/v1/admin/keys`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "中国计算机学会 数据同步",
                    "role": "reader",
                    "org": "ccf",
                    "expires_at": None,
                }
            ]
        },
    )

    name: Name = Field(description="What the key is for, shown in key lists.")
    role: KeyRole = Field(description="reader 只读 · editor 编辑 · admin 管理员")
    org: Org | None = Field(None, description="Owning organisation; required for reader/editor.")
    rate_limit: int | None = Field(
        None, ge=1, le=100_000, description="Requests per minute; the platform default if omitted."
    )
    expires_at: datetime | None = Field(None, description="When the key stops working (UTC).")


class KeyRead(BaseModel):
    """An API key as listed; never includes the secret."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    role: KeyRole
    role_label: str = ""
    org: str | None
    rate_limit: int = Field(description="Requests per minute.")
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def model_post_init(self, _context: object) -> None:
        self.role_label = ROLE_LABELS[self.role.value]


class KeyCreated(KeyRead):
    """The new key, with its secret: shown once, store it now."""

    secret: str = Field(description="Send as `Authorization: Bearer <secret>`. Shown only once.")
