"""FastAPI dependencies of the institutions service."""

from __future__ import annotations

from fastapi import Request

from services.institutions.references import Referrers
from services.institutions.service import InstitutionService
from services.kernel.session import Session


def get_institution_service(session: Session, request: Request) -> InstitutionService:
    return InstitutionService(session, Referrers(request.app.state.peers))
