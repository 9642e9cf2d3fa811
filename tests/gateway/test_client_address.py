"""Whose rate limit a request counts against: the TCP peer unless a configured proxy says
otherwise; and failed authentication, limited per address without key-store reads."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from services.gateway.client_address import client_address
from services.gateway.client_address import parse_networks
from services.gateway.config import GatewaySettings
from services.gateway.main import create_app as create_gateway
from services.gateway.search.components import SearchComponents
from services.kernel.http import ServiceClient
from tests.gateway.conftest import MakeKey
from tests.gateway.conftest import Platform
from tests.gateway.conftest import bearer
from tests.institutions.helpers import assert_problem
from tests.reliability._fuzz_raw_http import serving

PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1"])


def _scope(peer: str, *forwarded: str) -> dict[str, Any]:
    return {
        "client": (peer, 50000),
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


def test_the_peer_is_the_client_unless_it_is_a_trusted_proxy() -> None:
    assert client_address(_scope("203.0.113.9", "1.2.3.4"), ()) == "203.0.113.9"
    assert client_address(_scope("203.0.113.9", "1.2.3.4"), PROXIES) == "203.0.113.9"
    assert client_address(_scope("10.1.2.3"), PROXIES) == "10.1.2.3"


def test_behind_trusted_proxies_the_rightmost_untrusted_address_counts() -> None:
    # The client wrote "6.6.6.6" itself; the proxies appended what they saw, right to left.
    scope = _scope("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.1")
    assert client_address(scope, PROXIES) == "198.51.100.7"
    # Several headers are one list; garbage from the client does not become the address.
    assert client_address(_scope("127.0.0.1", "6.6.6.6", "198.51.100.8"), PROXIES) == (
        "198.51.100.8"
    )
    assert client_address(_scope("127.0.0.1", "not-an-ip"), PROXIES) == "127.0.0.1"


def test_invalid_trusted_proxy_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="trusted proxy"):
        GatewaySettings(trusted_proxies=["10.0.0.300"])


def _gateway(
    platform: Platform,
    platform_settings: Any,
    clients: dict[str, ServiceClient],
    search: SearchComponents,
    **settings: Any,
) -> Any:
    return create_gateway(
        GatewaySettings(run_indexer=False, **settings),
        platform_settings,
        platform.gateway_db,
        clients,
        search=search,
    )


async def test_x_forwarded_for_does_not_escape_the_anonymous_limit_on_a_real_server(
    platform: Platform,
    platform_settings: Any,
    platform_clients: dict[str, ServiceClient],
    search: SearchComponents,
) -> None:
    """Served as `zhihui serve` serves it: uvicorn must not take the header from a local peer."""
    app = _gateway(platform, platform_settings, platform_clients, search, anonymous_rate_limit=20)
    async with serving(app) as port, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        statuses = [
            (await http.get("/api/v1/no-such-route", headers={"X-Forwarded-For": f"192.0.2.{n}"}))
            for n in range(30)
        ]
    assert [r.status_code for r in statuses].count(429) == 10
    assert statuses[19].headers["x-ratelimit-remaining"] == "0"


async def test_a_configured_proxy_gives_each_client_its_own_limit(
    platform: Platform,
    platform_settings: Any,
    platform_clients: dict[str, ServiceClient],
    search: SearchComponents,
) -> None:
    app = _gateway(
        platform,
        platform_settings,
        platform_clients,
        search,
        anonymous_rate_limit=5,
        trusted_proxies=["127.0.0.1"],
    )
    async with serving(app) as port, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        per_client = [
            (await http.get("/api/v1/no-such-route", headers={"X-Forwarded-For": f"192.0.2.{n}"}))
            for n in range(20)
        ]
        # A client that writes a different first address each time is still one client.
        spoofing = [
            await http.get(
                "/api/v1/no-such-route",
                headers={"X-Forwarded-For": f"198.18.0.{n}, 192.0.2.200"},
            )
            for n in range(8)
        ]
    assert {r.status_code for r in per_client} == {404}
    assert [r.status_code for r in spoofing].count(429) == 3


class _KeyStoreReads:
    """Counts statements that read the API-key table on the gateway's engine."""

    def __init__(self, platform: Platform) -> None:
        self.count = 0
        self.engine = platform.gateway_db.engine.sync_engine
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_keys" in statement:
            self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


async def test_failed_authentication_is_rate_limited_without_key_store_reads(
    platform: Platform,
    platform_settings: Any,
    platform_clients: dict[str, ServiceClient],
    search: SearchComponents,
    make_key: MakeKey,
) -> None:
    app = _gateway(platform, platform_settings, platform_clients, search, failed_auth_rate_limit=10)
    valid = bearer(await make_key("reader", "cast"))
    secret = await make_key("reader", "cast")
    bad = bearer(secret[:-1] + ("A" if secret[-1] != "A" else "B"))  # its ID, a wrong secret
    reads = _KeyStoreReads(platform)

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 4000))  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url="http://gateway")

    try:
        async with client("198.51.100.1") as attacker, client("198.51.100.2") as bystander:
            path = "/api/v1/institutions/ins_zzzzzzzzzzzzzzzzzzzz"
            answers = [await attacker.get(path, headers=bad) for _ in range(40)]
            assert [r.status_code for r in answers] == [401] * 10 + [429] * 30
            assert_problem(answers[-1], 429)
            assert int(answers[-1].headers["retry-after"]) >= 1
            assert reads.count == 1  # the repeats were answered from memory

            # New random keys from the same address: refused before any read.
            for _ in range(5):
                guess = bearer(f"zhk_{secrets.token_hex(10)}_{secrets.token_urlsafe(32)}")
                assert (await attacker.get(path, headers=guess)).status_code == 429
            assert reads.count == 1

            # Another address is not affected, and its valid key still works.
            assert (await bystander.get(path, headers=valid)).status_code == 404
            assert (await bystander.get(path, headers=bad)).status_code == 401
    finally:
        reads.close()
