"""FastAPI dependencies of the experts service."""

from __future__ import annotations

from fastapi import Request

from services.experts.service import ExpertService
from services.kernel.session import Session


def get_expert_service(session: Session, request: Request) -> ExpertService:
    return ExpertService(session, request.app.state.peers["institutions"])
