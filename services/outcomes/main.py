"""The outcomes service (`uvicorn --factory services.outcomes.main:create_app`)."""

from __future__ import annotations

from services.kernel.library_app import LibraryService
from services.outcomes.config import OutcomesSettings
from services.outcomes.endpoints import ROUTES
from services.outcomes.library import LIBRARY
from services.outcomes.models import TABLES
from services.outcomes.service import count_institution_references

# Asked before an institution is deleted: how many live records name it.
REFERENCES = {"institutions": count_institution_references}

# What `zhihui` runs for this library (services/registry.py finds it by the declaration).
SERVICE = LibraryService.of(LIBRARY, OutcomesSettings, TABLES, ROUTES, references=REFERENCES)
create_app = SERVICE.create_app
