"""Settings shared by every service, read from the environment with pydantic-settings."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import Field
from pydantic import SecretStr
from pydantic import model_validator
from pydantic_settings import BaseSettings
from pydantic_settings import SettingsConfigDict

from services.kernel.library import library_named

# Only ever accepted when ZHIHUI_ENVIRONMENT=local (see `refuse_default_secrets`).
DEFAULT_INTERNAL_TOKEN = "local-dev-internal-token-change-me"


class Environment(StrEnum):
    LOCAL = "local"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"


class PlatformSettings(BaseSettings):
    """Platform-wide settings (`ZHIHUI_*`), shared by all services and the gateway."""

    model_config = SettingsConfigDict(env_prefix="ZHIHUI_", extra="ignore")

    environment: Environment = Environment.LOCAL
    internal_token: SecretStr = SecretStr(DEFAULT_INTERNAL_TOKEN)
    data_dir: Path = Path(".local/data")
    # One PostgreSQL database for the platform; each service lives in its own schema.
    # Unset means the embedded default: one SQLite file per service under data_dir.
    database_url: str | None = None
    # Elasticsearch for search; unset means the embedded SQLite FTS5 index under data_dir.
    elasticsearch_url: str | None = None
    # Index and alias names start with this; several platforms can share one cluster.
    elasticsearch_index_prefix: str = Field(default="zhihui", pattern=r"^[a-z][a-z0-9_]{0,39}$")
    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="after")
    def refuse_default_secrets(self) -> PlatformSettings:
        if (
            self.environment != Environment.LOCAL
            and self.internal_token.get_secret_value() == DEFAULT_INTERNAL_TOKEN
        ):
            raise ValueError(
                "ZHIHUI_INTERNAL_TOKEN still has its local default; set a random secret "
                f"(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) "
                f"before running with ZHIHUI_ENVIRONMENT={self.environment.value}"
            )
        if self.environment != Environment.LOCAL and len(self.internal_token) < 24:
            raise ValueError("ZHIHUI_INTERNAL_TOKEN must be at least 24 characters")
        return self


class ServiceSettings(BaseSettings):
    """Per-service settings; each service subclasses this with its own env prefix and port."""

    model_config = SettingsConfigDict(extra="ignore")

    service_name: str = Field(default="service", exclude=True)
    host: str = "127.0.0.1"
    port: int = 8100
    # How peers reach this service (e.g. http://institutions:8101 in a cluster); defaults to
    # host and port, which is right for `zhihui up` on one machine.
    url: str | None = None
    # Overrides the platform database for this service only (own PostgreSQL or SQLite file).
    database_url: str | None = None
    database_schema: str | None = None
    database_pool_size: int = 10
    # Record bodies are small; a larger request is refused with 413 before it is parsed.
    max_body_bytes: int = 1_048_576
    # Where peer libraries run, by name, when not where their own settings say (peer_url).
    peer_urls: dict[str, str] = Field(default_factory=dict)

    def resolved_database_url(self, platform: PlatformSettings) -> str:
        """The database URL this service uses: its own, the platform's, or its SQLite file."""
        if self.database_url:
            return self.database_url
        if platform.database_url:
            return platform.database_url
        path = (platform.data_dir / f"{self.service_name}.sqlite").resolve()
        return f"sqlite+aiosqlite:///{path}"

    def resolved_schema(self) -> str:
        """The PostgreSQL schema that holds this service's tables."""
        return self.database_schema or self.service_name

    @property
    def base_url(self) -> str:
        return self.url or f"http://{self.host}:{self.port}"

    def peer_url(self, peer: str) -> str:
        """Where this service reaches the library `peer`: `peer_urls`, else its own
        `ZHIHUI_<SERVICE>_<PEER>_URL`, else wherever the peer's settings say it runs."""
        if peer in self.peer_urls:
            return self.peer_urls[peer]
        prefix = str(self.model_config.get("env_prefix") or "")
        override = os.environ.get(f"{prefix}{peer.upper()}_URL") if prefix else None
        return override or peer_base_url(peer)


def peer_base_url(library: str) -> str:
    """How a peer service is reached: its own `ZHIHUI_<SERVICE>_URL`, or `_HOST` and `_PORT`,
    read the way the peer reads them, so a platform on other ports needs no extra settings."""

    class Peer(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix=f"ZHIHUI_{library.upper()}_", extra="ignore")
        port: int = library_named(library).port

    return Peer().base_url
