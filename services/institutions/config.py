"""Settings of the institutions service (`ZHIHUI_INSTITUTIONS_*`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.institutions.library import LIBRARY
from services.kernel.settings import ServiceSettings


class InstitutionsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIHUI_INSTITUTIONS_", extra="ignore")

    service_name: str = LIBRARY.name
    port: int = LIBRARY.port
    # Peers (libraries whose records name institutions, asked before one is deleted) are
    # reached by `peer_url`: wherever ZHIHUI_<PEER>_URL / _HOST / _PORT say each runs.
