"""The experts service (`uvicorn --factory services.experts.main:create_app`)."""

from __future__ import annotations

from services.experts.config import ExpertsSettings
from services.experts.endpoints import ROUTES
from services.experts.library import LIBRARY
from services.experts.models import TABLES
from services.experts.service import count_institution_references
from services.kernel.library_app import LibraryService

# Asked before an institution is deleted: how many live records name it.
REFERENCES = {"institutions": count_institution_references}

# What `zhihui` runs for this library (services/registry.py finds it by the declaration).
SERVICE = LibraryService.of(LIBRARY, ExpertsSettings, TABLES, ROUTES, references=REFERENCES)
create_app = SERVICE.create_app
