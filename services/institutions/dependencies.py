"""FastAPI dependencies of the institutions service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.institutions.service import InstitutionService
from services.kernel.app import Session


def get_institution_service(session: Session) -> InstitutionService:
    return InstitutionService(session)


InstitutionServiceDep = Annotated[InstitutionService, Depends(get_institution_service)]
