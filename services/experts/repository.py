"""Data access for experts."""

from __future__ import annotations

from services.experts.models import Expert
from services.kernel.repository import Repository


class ExpertRepository(Repository[Expert]):
    model = Expert
