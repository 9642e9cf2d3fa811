"""The libraries whose records refer to institutions, asked before one is deleted."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import quote

import orjson

from services.kernel.http import ServiceClient

logger = logging.getLogger("zhihui.institutions.references")


class Referrers:
    """Asks each referring service (experts, outcomes, datasets) how many of its live records
    refer to an institution. A service that cannot answer makes the delete a 503: nothing is
    deleted that might still be referred to."""

    def __init__(self, clients: Mapping[str, ServiceClient]) -> None:
        self.clients = dict(clients)

    async def count(self, institution_id: str) -> dict[str, int]:
        """Live referring records per library, e.g. `{"experts": 3, "outcomes": 0, …}`."""
        counts: dict[str, int] = {}
        for library, client in self.clients.items():
            response = await client.request(
                "GET", f"/internal/references/institutions/{quote(institution_id, safe='')}"
            )
            try:
                if response.status_code != 200:
                    raise ValueError(f"status {response.status_code}")
                counts[library] = int(orjson.loads(response.content)["count"])
            except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
                logger.error("%s could not count references: %s", client.name, exc)
                raise client.unavailable() from exc
        return counts
