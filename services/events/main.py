"""The events service (`uvicorn --factory services.events.main:create_app`)."""

from __future__ import annotations

from services.events.config import EventsSettings
from services.events.endpoints import ROUTES
from services.events.library import LIBRARY
from services.events.models import TABLES
from services.events.service import count_institution_references
from services.kernel.library_app import LibraryService

# Asked before an institution is deleted: how many live records name it.
REFERENCES = {"institutions": count_institution_references}

# What `zhihui` runs for this library (services/registry.py finds it by the declaration).
SERVICE = LibraryService.of(LIBRARY, EventsSettings, TABLES, ROUTES, references=REFERENCES)
create_app = SERVICE.create_app
