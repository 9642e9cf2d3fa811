"""Settings of the gateway (`ZHIHUI_GATEWAY_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic import field_validator
from pydantic_settings import SettingsConfigDict

from services.gateway.client_address import parse_networks
from services.kernel.settings import ServiceSettings

SERVICE_NAME = "gateway"
DEFAULT_PORT = 8000


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIHUI_GATEWAY_", extra="ignore")

    service_name: str = SERVICE_NAME
    port: int = DEFAULT_PORT
    # Origins the SPA is served from; "*" allows any (no credentials are used: keys are headers).
    cors_origins: list[str] = Field(
        default_factory=lambda: ["http://localhost:5173", "http://127.0.0.1:5173"]
    )
    # Requests per minute for callers without a key, per client IP.
    anonymous_rate_limit: int = 120
    # Default for new keys when the admin does not say.
    default_key_rate_limit: int = 600
    # Proxies (IPs or networks, JSON list) whose X-Forwarded-For names the client for rate
    # limits, e.g. ["10.0.0.0/8"]; empty: the TCP peer is the client (client_address.py).
    trusted_proxies: list[str] = Field(default_factory=list)
    # Failed authentications per minute per client address before further ones (and keys
    # not seen before) are refused with 429 without asking the key store.
    failed_auth_rate_limit: int = 30

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)
        return value

    # Seconds the gateway waits for a service before answering 503.
    service_timeout_seconds: float = 10.0
    # … and for one bulk request (up to 1 000 upserts) before answering 503.
    bulk_timeout_seconds: float = 120.0
    # Run the change-feed indexer inside this gateway (ZHIHUI_INDEXER_* tunes it); leases
    # keep it to one active indexer per feed however many gateways (or `zhihui indexer`
    # processes) run it. On by default so the embedded platform needs nothing else.
    run_indexer: bool = True
