"""Settings of the institutions service (`ZHIHUI_INSTITUTIONS_*`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.kernel.settings import ServiceSettings

SERVICE_NAME = "institutions"
DEFAULT_PORT = 8101


class InstitutionsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIHUI_INSTITUTIONS_", extra="ignore")

    service_name: str = SERVICE_NAME
    port: int = DEFAULT_PORT
