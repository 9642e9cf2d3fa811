"""Existence of `ref:<library>` targets, asked of the owning services (`GET /<library>?ids=`)."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping

from services.kernel.errors import ServiceUnavailable
from services.kernel.http import ServiceClient
from services.kernel.internal_auth import Actor
from services.kernel.peers import missing_ids


class ReferenceChecker:
    """Asks each library's service which of a set of IDs are live records."""

    def __init__(self, clients: Mapping[str, ServiceClient]) -> None:
        self.clients = dict(clients)

    async def missing(
        self, library: str, ids: Iterable[str], actor: Actor | None = None
    ) -> set[str]:
        """The IDs among `ids` that are not live records of `library` (unknown or deleted).

        Asked as `actor` when given: a record the writer may not see is missing for them, so
        a reference cannot be used to learn that a hidden outcome exists.
        """
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        client = self.clients.get(library)
        if client is None:
            raise ServiceUnavailable(
                f"No {library} service is configured, so references to it cannot be checked."
            )
        return await missing_ids(client, f"/{library}", wanted, actor)
