"""Internal headers the gateway sends on behalf of each kind of caller (for service tests)."""

from __future__ import annotations

from tests.conftest import TEST_INTERNAL_TOKEN


def internal_headers(role: str = "service", org: str | None = None) -> dict[str, str]:
    headers = {"X-Internal-Token": TEST_INTERNAL_TOKEN, "X-Actor-Role": role}
    if org:
        headers["X-Actor-Org"] = org
    return headers


ADMIN = internal_headers("admin", "platform")
EDITOR_CAST = internal_headers("editor", "cast")  # 中国科协
EDITOR_OTHER = internal_headers("editor", "csae")  # another society
READER = internal_headers("reader", "cast")
ANONYMOUS = internal_headers("anonymous")
SERVICE = internal_headers("service")
NO_TOKEN = {"X-Actor-Role": "admin"}
BAD_TOKEN = {"X-Internal-Token": "wrong", "X-Actor-Role": "admin"}
