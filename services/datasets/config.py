"""Settings of the datasets service (`ZHIHUI_DATASETS_*`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.datasets.library import LIBRARY
from services.kernel.settings import ServiceSettings


class DatasetsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIHUI_DATASETS_", extra="ignore")

    service_name: str = LIBRARY.name
    port: int = LIBRARY.port
    # `ref:<library>` values are checked for existence with the owning services, reached by
    # `peer_url`: wherever ZHIHUI_<PEER>_URL / _HOST / _PORT say each runs.
