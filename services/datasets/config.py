"""Settings of the datasets service (`ZHIHUI_DATASETS_*`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.kernel.settings import ServiceSettings

SERVICE_NAME = "datasets"
DEFAULT_PORT = 8104


class DatasetsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIHUI_DATASETS_", extra="ignore")

    service_name: str = SERVICE_NAME
    port: int = DEFAULT_PORT
    # Where `ref:<library>` values are checked for existence (the owning services).
    institutions_url: str = "http://127.0.0.1:8101"
    experts_url: str = "http://127.0.0.1:8102"
    outcomes_url: str = "http://127.0.0.1:8103"

    def library_urls(self) -> dict[str, str]:
        return {
            "institutions": self.institutions_url,
            "experts": self.experts_url,
            "outcomes": self.outcomes_url,
        }
