"""The datasets service (`uvicorn --factory services.datasets.main:create_app`)."""

from __future__ import annotations

from services.datasets.config import DatasetsSettings
from services.datasets.endpoints import router
from services.datasets.library import LIBRARY
from services.datasets.models import TABLES
from services.datasets.service import reference_counter
from services.kernel.library_app import LibraryService

# Asked before an institution is deleted: how many live records name it in `ref:` fields.
REFERENCES = {"institutions": reference_counter("institutions")}

# What `zhihui` runs for this library (services/registry.py finds it by the declaration).
SERVICE = LibraryService.of(
    LIBRARY, DatasetsSettings, TABLES, router, references=REFERENCES, make_missing_peers=False
)
create_app = SERVICE.create_app
