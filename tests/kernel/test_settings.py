"""Platform settings: from the environment, and no default secret outside local."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.kernel.settings import DEFAULT_INTERNAL_TOKEN
from services.kernel.settings import Environment
from services.kernel.settings import PlatformSettings


def test_settings_refuse_default_secret_outside_local() -> None:
    assert PlatformSettings(environment=Environment.LOCAL).internal_token.get_secret_value() == (
        DEFAULT_INTERNAL_TOKEN
    )
    with pytest.raises(ValidationError, match="ZHIHUI_INTERNAL_TOKEN"):
        PlatformSettings(environment=Environment.PRODUCTION)
    with pytest.raises(ValidationError, match="at least 24"):
        PlatformSettings(environment=Environment.STAGING, internal_token="short")
    ok = PlatformSettings(environment=Environment.PRODUCTION, internal_token="s" * 32)
    assert ok.environment is Environment.PRODUCTION


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHIHUI_ENVIRONMENT", "production")
    monkeypatch.setenv("ZHIHUI_INTERNAL_TOKEN", "t" * 40)
    monkeypatch.setenv("ZHIHUI_DATABASE_URL", "postgresql://u:p@db/zhihui")
    settings = PlatformSettings()
    assert settings.environment is Environment.PRODUCTION
    assert settings.database_url == "postgresql://u:p@db/zhihui"
