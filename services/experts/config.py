"""Settings of the experts service (`ZHIHUI_EXPERTS_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kernel.settings import DEFAULT_PORTS, ServiceSettings, peer_base_url

SERVICE_NAME = "experts"
DEFAULT_PORT = DEFAULT_PORTS[SERVICE_NAME]


class ExpertsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIHUI_EXPERTS_", extra="ignore")

    service_name: str = SERVICE_NAME
    port: int = DEFAULT_PORT
    # Affiliations name institutions; their existence is checked with this service (by
    # default wherever ZHIHUI_INSTITUTIONS_URL / _HOST / _PORT say it runs).
    institutions_url: str = Field(default_factory=lambda: peer_base_url("institutions"))
