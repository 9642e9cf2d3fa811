"""Data access for events: visibility in SQL (kernel/repository.py)."""

from __future__ import annotations

from services.events.models import Event
from services.kernel.repository import VisibleRepository


class EventRepository(VisibleRepository[Event]):
    model = Event
