"""Settings of the datasets service (`ZHIHUI_DATASETS_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kernel.settings import DEFAULT_PORTS, ServiceSettings, peer_base_url

SERVICE_NAME = "datasets"
DEFAULT_PORT = DEFAULT_PORTS[SERVICE_NAME]


class DatasetsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIHUI_DATASETS_", extra="ignore")

    service_name: str = SERVICE_NAME
    port: int = DEFAULT_PORT
    # Where `ref:<library>` values are checked for existence (the owning services); by
    # default wherever ZHIHUI_<PEER>_URL / _HOST / _PORT say the peer runs.
    institutions_url: str = Field(default_factory=lambda: peer_base_url("institutions"))
    experts_url: str = Field(default_factory=lambda: peer_base_url("experts"))
    outcomes_url: str = Field(default_factory=lambda: peer_base_url("outcomes"))

    def library_urls(self) -> dict[str, str]:
        return {
            "institutions": self.institutions_url,
            "experts": self.experts_url,
            "outcomes": self.outcomes_url,
        }
