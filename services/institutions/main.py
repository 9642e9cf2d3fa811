"""The institutions service app (`uvicorn --factory services.institutions.main:create_app`)."""

from __future__ import annotations

from fastapi import FastAPI

from services.institutions.config import InstitutionsSettings
from services.institutions.endpoints import router
from services.institutions.models import InstitutionChange
from services.kernel.app import create_service_app
from services.kernel.db import Database
from services.kernel.settings import PlatformSettings


def create_app(
    settings: InstitutionsSettings | None = None,
    platform: PlatformSettings | None = None,
    database: Database | None = None,
) -> FastAPI:
    return create_service_app(
        title="智汇中国 · institutions service (机构库)",
        description="Owns institution records; internal API behind the gateway.",
        settings=settings or InstitutionsSettings(),
        platform=platform or PlatformSettings(),
        routers=[router],
        change_model=InstitutionChange,
        database=database,
    )
