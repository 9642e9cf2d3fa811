"""Settings of the experts service (`ZHIHUI_EXPERTS_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.institutions.config import InstitutionsSettings
from services.kernel.settings import ServiceSettings

SERVICE_NAME = "experts"
DEFAULT_PORT = 8102


class ExpertsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIHUI_EXPERTS_", extra="ignore")

    service_name: str = SERVICE_NAME
    port: int = DEFAULT_PORT
    # Affiliations name institutions; their existence is checked with this service (by
    # default wherever ZHIHUI_INSTITUTIONS_URL / _HOST / _PORT say it runs).
    institutions_url: str = Field(default_factory=lambda: InstitutionsSettings().base_url)
