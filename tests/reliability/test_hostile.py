"""The hostile-input corpus (hostile_corpus.py) against the gateway on the real services.

Proves, for each entry: the answer is the expected clear 4xx (or, for search text, a 200 whose
hits are text matches), a problem+json naming the field where there is one, never a 5xx, never
a traceback, SQL or Elasticsearch body; and that nothing stored changed — the seeded records
read back identical and no service's change-feed head moved. Body-level entries go over ASGI;
header-level ones are raw bytes to the app served by uvicorn on a real socket.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from services.gateway.config import GatewaySettings
from services.gateway.main import create_app as create_gateway
from services.kernel.errors import PROBLEM_MEDIA_TYPE
from tests.reliability._fuzz_cases import promise_failures
from tests.reliability._fuzz_platform import DATASET_SLUG
from tests.reliability._fuzz_platform import Seeded
from tests.reliability._fuzz_platform import backend
from tests.reliability._fuzz_platform import feed_heads
from tests.reliability._fuzz_platform import gateway
from tests.reliability._fuzz_platform import index_now
from tests.reliability._fuzz_platform import keys
from tests.reliability._fuzz_platform import make_key
from tests.reliability._fuzz_platform import platform
from tests.reliability._fuzz_platform import platform_clients
from tests.reliability._fuzz_platform import search
from tests.reliability._fuzz_platform import seeded
from tests.reliability._fuzz_platform import stored_state
from tests.reliability._fuzz_raw_http import RawResponse
from tests.reliability._fuzz_raw_http import send_raw
from tests.reliability._fuzz_raw_http import serving
from tests.reliability.hostile_corpus import HOSTILE_REQUESTS
from tests.reliability.hostile_corpus import Hostile

__all__ = ["backend", "gateway", "index_now", "keys", "make_key", "platform"]
__all__ += ["platform_clients", "search", "seeded"]

pytestmark = [
    pytest.mark.reliability("hostile"),
    pytest.mark.postgres,
    pytest.mark.elasticsearch,
]

GENERATED_REQUEST_ID = re.compile(r"^[0-9a-f]{16}$")


def _path(case: Hostile, seeded: Seeded) -> str:
    return case.path.format(
        institution=seeded.ids["institution"],
        institution_path=seeded.paths["institution"],
        dataset=DATASET_SLUG,
    )


def _named(body: dict[str, Any], field: str) -> bool:
    locs = [".".join(str(p) for p in e.get("loc", [])) for e in body.get("errors", [])]
    return any(field in loc for loc in locs) or field in str(body.get("detail", ""))


def judge(case: Hostile, response: httpx.Response) -> list[str]:
    """What is wrong with the answer to `case` (empty: nothing)."""
    failures = promise_failures(response)
    if response.status_code not in case.status:
        failures.append(f"status {response.status_code}, expected one of {case.status}")
    is_problem = response.headers.get("content-type", "").startswith(PROBLEM_MEDIA_TYPE)
    named = is_problem and case.field and _named(response.json(), case.field)
    if case.field and response.status_code >= 400 and is_problem and not named:
        failures.append(f"the problem does not name {case.field!r}")
    request_id = response.headers.get("x-request-id", "")
    sent_id = case.headers.get("X-Request-ID")
    if sent_id is not None and not GENERATED_REQUEST_ID.match(request_id):
        failures.append(f"unsafe X-Request-ID echoed: {request_id[:60]!r}")
    return failures


def _hits(body: dict[str, Any]) -> list[Any]:
    """Results of a list, or of every library of `/search`."""
    if "results" in body:
        results = body["results"]
        if isinstance(results, dict):  # /search: results per library
            return [hit for group in results.values() for hit in _hits(group)]
        return list(results)
    return [hit for value in body.values() if isinstance(value, dict) for hit in _hits(value)]


async def only_text_matches(
    gateway: httpx.AsyncClient,
    case: Hostile,
    response: httpx.Response,
    keys: dict[str, dict[str, str]],
) -> list[str]:
    """Hits of hostile search text: none (no seeded record holds its words), or, when it has
    no searchable words at all (`\\`, `/.*/`), exactly the unfiltered list: never a subset
    that only query syntax could have selected."""
    hits = {hit["id"] for hit in _hits(response.json())}
    if not hits:
        return []
    unfiltered = await gateway.get(case.path.split("?")[0], headers=keys[case.caller])
    everything = {hit["id"] for hit in _hits(unfiltered.json())}
    if hits != everything:
        return [f"search text selected {len(hits)} of {len(everything)} records"]
    return []


async def _send(
    gateway: httpx.AsyncClient,
    case: Hostile,
    seeded: Seeded,
    keys: dict[str, dict[str, str]],
) -> httpx.Response:
    headers = {**keys[case.caller], **case.headers}
    if case.if_match:
        current = await gateway.get(seeded.paths[case.if_match], headers=keys["admin"])
        headers["If-Match"] = current.headers["etag"]
    return await gateway.request(
        case.method,
        _path(case, seeded),
        params=case.params or None,
        content=case.content,
        headers=headers,
    )


async def test_hostile_requests_get_clear_answers_and_change_nothing(
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    seeded: Seeded,
    platform_clients: dict[str, Any],
    reliability: Any,
) -> None:
    before = await stored_state(gateway, keys["admin"], platform_clients, seeded)
    failed: list[str] = []
    started = time.monotonic()
    for case in HOSTILE_REQUESTS:
        response = await _send(gateway, case, seeded, keys)
        failures = judge(case, response)
        if case.search_text and response.status_code == 200:
            failures += await only_text_matches(gateway, case, response, keys)
        if case.method != "GET" and await feed_heads(platform_clients) != before.heads:
            failures.append("a change-feed head moved: something was written")
            before = await stored_state(gateway, keys["admin"], platform_clients, seeded)
        if failures:
            failed.append(
                f"{case.name}: {case.method} {case.path[:80]} -> {response.status_code}: "
                f"{'; '.join(failures)}\n    {response.text[:300]}"
            )
    after = await stored_state(gateway, keys["admin"], platform_clients, seeded)
    changed = [name for name in before.records if before.records[name] != after.records[name]]
    reliability.cases("hostile", len(HOSTILE_REQUESTS), len(failed) + len(changed))
    reliability.figure("hostile", "asgi seconds", f"{time.monotonic() - started:.1f}")
    assert not failed, f"{len(failed)} of {len(HOSTILE_REQUESTS)} hostile requests:\n" + "\n".join(
        failed
    )
    assert not changed and after.heads == before.heads, (changed, before.heads, after.heads)


# ------------------------------------------------------------------ raw bytes on a real socket


def _request(*headers: bytes, target: bytes = b"/healthz", method: bytes = b"GET") -> bytes:
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: gateway", *headers]
    return b"\r\n".join([*lines, b"Connection: close", b"", b""])


# (name, raw request, statuses accepted; None = the server may just close the connection)
RAW_REQUESTS: list[tuple[str, bytes, tuple[int | None, ...]]] = [
    # uvicorn's httptools parser sets no header limit; the size-limit middleware refuses
    # more than 32 KiB or 100 headers with 431, before the key is looked up.
    ("header-100kib", _request(b"X-Padding: " + b"a" * 100 * 1024), (431,)),
    ("headers-200", _request(*(b"X-H%d: v" % i for i in range(200))), (431,)),
    (
        "authorization-100kib",
        _request(b"Authorization: Bearer zhk_" + b"x" * 100 * 1024, target=b"/api/v1/experts"),
        (431,),
    ),
    ("request-id-bare-cr", _request(b"X-Request-ID: abc\rSet-Cookie: pwned=1"), (200, 400, None)),
    ("request-id-bare-lf", _request(b"X-Request-ID: abc\nSet-Cookie: pwned=1"), (200, 400, None)),
    ("request-id-crlf", _request(b"X-Request-ID: abc\r\nSet-Cookie: pwned=1"), (200, 400, None)),
    ("request-id-nul", _request(b"X-Request-ID: ab\x00c"), (200, 400, None)),
    ("request-id-16kib", _request(b"X-Request-ID: " + b"r" * 16 * 1024), (200, 400, 431, None)),
    ("request-id-utf8", _request("X-Request-ID: 请求标识".encode()), (200, 400, None)),
    ("request-id-invalid-utf8", _request(b"X-Request-ID: \xff\xfe"), (200, 400, None)),
    (
        "query-raw-invalid-utf8",
        _request(target=b"/api/v1/institutions?q=\xff\xfe"),
        (200, 400, None),
    ),
    (
        "query-encoded-invalid-utf8",
        _request(target=b"/api/v1/institutions?q=%ff%fe&filter=type:%c0%af"),
        (200, 400, None),
    ),
    (
        "path-raw-dotdot",
        _request(target=b"/api/v1/institutions/../../internal/changes"),
        (400, 404, None),
    ),
    (
        "duplicate-content-length",
        _request(
            b"Content-Type: application/json",
            b"Content-Length: 2",
            b"Content-Length: 40",
            method=b"POST",
            target=b"/api/v1/institutions",
        )
        + b"{}",
        (400, 401, 422, None),
    ),
    (
        "content-length-and-chunked",
        _request(
            b"Content-Length: 4",
            b"Transfer-Encoding: chunked",
            method=b"POST",
            target=b"/api/v1/institutions",
        )
        + b"0\r\n\r\n",
        (400, 401, 422, None),
    ),
    (
        "content-length-huge",
        _request(
            b"Content-Length: 99999999999999999999", method=b"POST", target=b"/api/v1/institutions"
        ),
        (400, 413, None),
    ),
]


def judge_raw(name: str, response: RawResponse, accepted: tuple[int | None, ...]) -> list[str]:
    failures = []
    if response.status not in accepted:
        failures.append(f"status {response.status}, expected one of {accepted}")
    if response.status is not None and response.status >= 500:
        failures.append("server error")
    if any(k.lower() == "set-cookie" for k, _ in response.headers):
        failures.append("a Set-Cookie header was injected into the response")
    request_id = response.header("x-request-id")
    # `abc` is safe: it is what a CR/LF split leaves of the value, echoing it is fine.
    echoed = request_id is not None and request_id != "abc" and name.startswith("request-id")
    if echoed and not GENERATED_REQUEST_ID.match(request_id or ""):
        failures.append(f"unsafe X-Request-ID echoed: {request_id[:60]!r}")
    # Answered by the app (it sets the request id): problem+json as everywhere else.
    app_error = response.status is not None and response.status >= 400 and request_id is not None
    if app_error and not (response.header("content-type") or "").startswith(PROBLEM_MEDIA_TYPE):
        failures.append("an app 4xx that is not problem+json")
    if b"Traceback" in response.body:
        failures.append("a traceback in the body")
    return failures


async def test_header_level_attacks_on_a_real_http_server(
    platform,  # type: ignore[no-untyped-def]
    platform_settings,  # type: ignore[no-untyped-def]
    platform_clients: dict[str, Any],
    search,  # type: ignore[no-untyped-def]
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    seeded: Seeded,
    reliability: Any,
) -> None:
    app = create_gateway(
        GatewaySettings(
            anonymous_rate_limit=10_000, failed_auth_rate_limit=10_000, run_indexer=False
        ),
        platform_settings,
        platform.gateway_db,
        platform_clients,
        search=search,
    )
    before = await stored_state(gateway, keys["admin"], platform_clients, seeded)
    failed = []
    async with serving(app) as port:
        # The server works for an ordinary request: the refusals below are about the input.
        plain = await send_raw(port, _request())
        assert plain.status == 200, plain
        for name, raw, accepted in RAW_REQUESTS:
            response = await send_raw(port, raw)
            failures = judge_raw(name, response, accepted)
            if failures:
                failed.append(
                    f"{name}: {response.status} {'; '.join(failures)} {response.body[:200]!r}"
                )
    after = await stored_state(gateway, keys["admin"], platform_clients, seeded)
    reliability.cases("hostile", len(RAW_REQUESTS), len(failed))
    assert not failed, "\n".join(failed)
    assert after == before
