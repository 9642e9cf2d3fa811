"""FastAPI dependencies of the institutions service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.institutions.service import InstitutionService
from services.kernel.session import Session


def get_institution_service(session: Session, request: Request) -> InstitutionService:
    return InstitutionService(session, request.app.state.referrers)


InstitutionServiceDep = Annotated[InstitutionService, Depends(get_institution_service)]
