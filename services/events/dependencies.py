"""FastAPI dependencies of the events service."""

from __future__ import annotations

from fastapi import Request

from services.events.service import EventService
from services.events.service import Peers
from services.kernel.session import Session


def get_event_service(session: Session, request: Request) -> EventService:
    peers = request.app.state.peers
    clients = Peers(peers["institutions"], peers["experts"], peers["outcomes"])
    return EventService(session, clients)
