"""The institutions service (`uvicorn --factory services.institutions.main:create_app`)."""

from __future__ import annotations

from services.institutions.config import InstitutionsSettings
from services.institutions.endpoints import ROUTES
from services.institutions.library import LIBRARY
from services.institutions.models import TABLES
from services.kernel.library_app import LibraryService

# What `zhihui` runs for this library (services/registry.py finds it by the declaration).
SERVICE = LibraryService.of(LIBRARY, InstitutionsSettings, TABLES, ROUTES, make_missing_peers=False)
create_app = SERVICE.create_app
