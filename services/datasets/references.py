"""Existence of `ref:<library>` targets, asked of the owning services (`GET /<library>?ids=`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from services.kernel.errors import ServiceUnavailable
from services.kernel.http import ServiceClient
from services.kernel.pagination import MAX_PAGE_SIZE

logger = logging.getLogger("zhihui.datasets.references")


class ReferenceChecker:
    """Asks each library's service which of a set of IDs are live records."""

    def __init__(self, clients: Mapping[str, ServiceClient]) -> None:
        self.clients = dict(clients)

    async def missing(self, library: str, ids: Iterable[str]) -> set[str]:
        """The IDs among `ids` that are not live records of `library` (unknown or deleted)."""
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        client = self.clients.get(library)
        if client is None:
            raise ServiceUnavailable(
                f"No {library} service is configured, so references to it cannot be checked."
            )
        found: set[str] = set()
        for start in range(0, len(wanted), MAX_PAGE_SIZE):
            batch = wanted[start : start + MAX_PAGE_SIZE]
            response = await client.request("GET", f"/{library}", params={"ids": ",".join(batch)})
            if response.status_code != 200:
                # A 4xx here is our misconfiguration (token, URL), not the caller's mistake.
                logger.error("%s answered %s to a list by ids", library, response.status_code)
                raise client.unavailable()
            found |= {str(r.get("id")) for r in response.json().get("results", [])}
        return set(wanted) - found

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
