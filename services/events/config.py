"""Settings of the events service (`ZHIHUI_EVENTS_*`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.events.library import LIBRARY
from services.kernel.settings import ServiceSettings


class EventsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIHUI_EVENTS_", extra="ignore")

    service_name: str = LIBRARY.name
    port: int = LIBRARY.port
    # Organisers, participants and outcomes are checked with their services, reached by
    # `peer_url`: wherever ZHIHUI_<PEER>_URL / _HOST / _PORT say each runs.
