"""The caller's address for rate limits: the TCP peer, or what trusted proxies say it was.

`X-Forwarded-For` is a list any client can write. It is read only when the request comes
from a configured proxy (`ZHIHUI_GATEWAY_TRUSTED_PROXIES`), and then from the right: each
trusted proxy appended the address it saw, so the first address from the right that is not
a trusted proxy is the client; whatever the client wrote further left is ignored. uvicorn's
own proxy-header handling, which would trust the header from any local peer, is switched
off where the gateway is served (`zhihui serve`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDED_FOR = b"x-forwarded-for"


def parse_networks(values: Sequence[str]) -> tuple[Network, ...]:
    """`10.0.0.0/8`, `127.0.0.1` or `::1` as networks (ValueError names a bad one)."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(
                f"trusted proxy {value!r} is not an IP address or network (e.g. 10.0.0.0/8)"
            ) from exc
    return tuple(networks)


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(scope: Scope, proxies: Sequence[Network]) -> str:
    """The address a request's rate limits are kept under."""
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [
        hop.strip()
        for key, value in scope.get("headers", [])
        if key.lower() == FORWARDED_FOR
        for hop in value.decode("latin-1").split(",")
    ]
    for hop in reversed([h for h in hops if h]):
        if not _trusted(hop, proxies):
            # Not an address at all: the proxy chain is broken; keep the last proxy's peer.
            return hop if _is_address(hop) else peer
    return peer


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
