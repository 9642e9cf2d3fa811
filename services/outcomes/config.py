"""Settings of the outcomes service (`ZHIHUI_OUTCOMES_*`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.kernel.settings import ServiceSettings
from services.outcomes.library import LIBRARY


class OutcomesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIHUI_OUTCOMES_", extra="ignore")

    service_name: str = LIBRARY.name
    port: int = LIBRARY.port
    # Outcomes may carry a full text of up to 2 million characters: about 6 MB of Chinese as
    # UTF-8 JSON, so the body limit is above the kernel's 1 MiB default (this service only).
    max_body_bytes: int = 8 * 1024 * 1024
    # Peers whose IDs outcomes refer to (authors[].expert_id, institution_ids) are reached by
    # `peer_url`: wherever ZHIHUI_<PEER>_URL / _HOST / _PORT say each runs.
