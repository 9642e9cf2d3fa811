"""Settings of the experts service (`ZHIHUI_EXPERTS_*`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.experts.library import LIBRARY
from services.kernel.settings import ServiceSettings


class ExpertsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIHUI_EXPERTS_", extra="ignore")

    service_name: str = LIBRARY.name
    port: int = LIBRARY.port
    # Affiliations name institutions; their existence is checked with that service, reached
    # by `peer_url`: wherever ZHIHUI_INSTITUTIONS_URL / _HOST / _PORT say it runs.
