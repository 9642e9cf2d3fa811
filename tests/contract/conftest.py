"""Fixtures of the record-library contract: the gateway in front of every service and the index
(tests/gateway/conftest.py)."""

from __future__ import annotations

from tests.gateway.conftest import gateway
from tests.gateway.conftest import index_now
from tests.gateway.conftest import keys
from tests.gateway.conftest import make_key
from tests.gateway.conftest import platform
from tests.gateway.conftest import platform_clients
from tests.gateway.conftest import search

# The gateway's fixtures, re-exported for this package's tests.
__all__ = ["gateway", "index_now", "keys", "make_key", "platform", "platform_clients", "search"]
