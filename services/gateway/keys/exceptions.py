"""Errors of API keys: an unknown key to revoke, a key that does not authenticate."""

from __future__ import annotations

from services.kernel.errors import NotFound
from services.kernel.errors import Unauthorized


class KeyNotFound(NotFound):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"No API key {key_id[:40]!r}.")


class InvalidApiKey(Unauthorized):
    """Bad, expired or revoked key: always 401, never a silent downgrade to anonymous."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"{reason}. Send `Authorization: Bearer <key>` with a valid key, or no "
            "Authorization header to use the API anonymously.",
            headers={"WWW-Authenticate": 'Bearer realm="zhihui"'},
        )
