"""Settings of the institutions service (`ZHIHUI_INSTITUTIONS_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kernel.settings import DEFAULT_PORTS, ServiceSettings, peer_base_url

SERVICE_NAME = "institutions"
DEFAULT_PORT = DEFAULT_PORTS[SERVICE_NAME]


class InstitutionsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIHUI_INSTITUTIONS_", extra="ignore")

    service_name: str = SERVICE_NAME
    port: int = DEFAULT_PORT
    # Libraries whose records refer to institutions: asked before one is deleted. By default
    # wherever ZHIHUI_<PEER>_URL / _HOST / _PORT say each peer runs.
    experts_url: str = Field(default_factory=lambda: peer_base_url("experts"))
    outcomes_url: str = Field(default_factory=lambda: peer_base_url("outcomes"))
    datasets_url: str = Field(default_factory=lambda: peer_base_url("datasets"))
