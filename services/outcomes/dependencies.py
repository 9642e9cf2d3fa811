"""FastAPI dependencies of the outcomes service."""

from __future__ import annotations

from fastapi import Request

from services.kernel.session import Session
from services.outcomes.service import OutcomeService
from services.outcomes.service import Peers


def get_outcome_service(session: Session, request: Request) -> OutcomeService:
    peers = request.app.state.peers
    return OutcomeService(
        session, Peers(experts=peers["experts"], institutions=peers["institutions"])
    )
