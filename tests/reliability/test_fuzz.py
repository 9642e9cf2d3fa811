"""Schemathesis against the gateway's `/openapi.json`, as every kind of caller.

Proves that generated requests (valid and invalid ones, and valid ones aimed at real seeded
records) never get a 5xx, that every 4xx is a problem+json with `status` equal to the HTTP
status, that nothing internal leaks, and that each response conforms to the document
(documented status code, content type, headers and body schema). The gateway runs in-process
over ASGI in front of the real services on PostgreSQL and the index on Elasticsearch; the
cases come from a fixed hypothesis seed, so every run sends the same requests.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.reliability._fuzz_cases import FuzzCase
from tests.reliability._fuzz_cases import conformance_failures
from tests.reliability._fuzz_cases import describe
from tests.reliability._fuzz_cases import generate
from tests.reliability._fuzz_cases import load_schema
from tests.reliability._fuzz_cases import promise_failures
from tests.reliability._fuzz_cases import send
from tests.reliability._fuzz_platform import DATASET_SLUG
from tests.reliability._fuzz_platform import ROLES
from tests.reliability._fuzz_platform import Seeded
from tests.reliability._fuzz_platform import backend
from tests.reliability._fuzz_platform import gateway
from tests.reliability._fuzz_platform import index_now
from tests.reliability._fuzz_platform import keys
from tests.reliability._fuzz_platform import make_key
from tests.reliability._fuzz_platform import platform
from tests.reliability._fuzz_platform import platform_clients
from tests.reliability._fuzz_platform import search
from tests.reliability._fuzz_platform import seeded

__all__ = ["backend", "gateway", "index_now", "keys", "make_key", "platform"]
__all__ += ["platform_clients", "search", "seeded"]

pytestmark = [
    pytest.mark.reliability("fuzz"),
    pytest.mark.postgres,
    pytest.mark.elasticsearch,
]

FAST_EXAMPLES = 2  # per operation and mode: 273 cases, sent as each of the 4 roles
LONG_EXAMPLES = 25
SEED = 20240601
CASES_PER_ROLE: dict[str, int] = {}
GENERATED: dict[int, list[FuzzCase]] = {}


@pytest.fixture(scope="module")
async def openapi_document(gateway: httpx.AsyncClient) -> dict[str, Any]:
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def seeded_path_parameters(seeded: Seeded) -> dict[str, dict[str, str]]:
    """Path parameters of real records, by operation path, so reads sometimes find data."""
    ids = seeded.ids
    return {
        "/api/v1/institutions/{ref}": {"ref": ids["institution"]},
        "/api/v1/institutions/{record_id}/children": {"record_id": ids["institution"]},
        "/api/v1/institutions/{record_id}/experts": {"record_id": ids["institution"]},
        "/api/v1/institutions/{record_id}/outcomes": {"record_id": ids["institution"]},
        "/api/v1/experts/{ref}": {"ref": ids["expert"]},
        "/api/v1/experts/{record_id}/outcomes": {"record_id": ids["expert"]},
        "/api/v1/outcomes/{ref}": {"ref": ids["outcome_partner"]},
        "/api/v1/outcomes/{record_id}/events": {"record_id": ids["outcome_public"]},
        "/api/v1/institutions/{record_id}/events": {"record_id": ids["institution"]},
        "/api/v1/experts/{record_id}/events": {"record_id": ids["expert"]},
        "/api/v1/events/{ref}": {"ref": ids["event"]},
        "/api/v1/institutions/{ref}/history": {"ref": ids["institution"]},
        "/api/v1/experts/{ref}/history": {"ref": ids["expert"]},
        "/api/v1/outcomes/{ref}/history": {"ref": ids["outcome_partner"]},
        "/api/v1/events/{ref}/history": {"ref": ids["event"]},
        "/api/v1/datasets/{slug}": {"slug": DATASET_SLUG},
        "/api/v1/datasets/{slug}/records": {"slug": DATASET_SLUG},
        "/api/v1/datasets/{slug}/records/{ref}": {
            "slug": DATASET_SLUG,
            "ref": ids["dataset_record"],
        },
        "/api/v1/datasets/{slug}/records/bulk": {"slug": DATASET_SLUG},
        "/api/v1/datasets/{slug}/history": {"slug": DATASET_SLUG},
        "/api/v1/datasets/{slug}/records/{ref}/history": {
            "slug": DATASET_SLUG,
            "ref": ids["dataset_record"],
        },
    }


async def fuzz_role(
    role: str,
    examples: int,
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    seeded: Seeded,
    openapi_document: dict[str, Any],
    reliability: Any,
) -> None:
    started = time.monotonic()
    # Generated once per size and reused by every role: the same requests, other callers.
    if examples not in GENERATED:
        GENERATED[examples] = generate(
            load_schema(openapi_document),
            examples=examples,
            hypothesis_seed=SEED,
            seeded_path_parameters=seeded_path_parameters(seeded),
        )
    cases = GENERATED[examples]
    generated = time.monotonic()
    failed: list[str] = []
    statuses: dict[int, int] = {}
    for fuzz_case in cases:
        response = await send(gateway, fuzz_case.case, keys[role])
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        failures = promise_failures(response) + conformance_failures(fuzz_case.case, response)
        if failures:
            failed.append(describe(fuzz_case, response, failures))
    reliability.cases("fuzz", len(cases), len(failed))
    CASES_PER_ROLE[role] = CASES_PER_ROLE.get(role, 0) + len(cases)
    reliability.figure(
        "fuzz", "cases per role", ", ".join(f"{r} {n}" for r, n in CASES_PER_ROLE.items())
    )
    seconds = time.monotonic() - started
    reliability.figure("fuzz", f"{role} statuses", dict(sorted(statuses.items())))
    reliability.figure(
        "fuzz", f"{role} seconds", f"{seconds:.1f} ({generated - started:.1f} generating)"
    )
    # Most cases must get past validation, or the fuzzing would only test the 422 path.
    assert any(200 <= s < 300 for s in statuses), statuses
    assert not failed, f"{len(failed)} of {len(cases)} cases as {role} broke a promise:\n" + (
        "\n".join(failed[:40])
    )


@pytest.mark.parametrize("role", ROLES)
async def test_generated_requests_keep_the_contract(
    role: str,
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    seeded: Seeded,
    openapi_document: dict[str, Any],
    reliability: Any,
) -> None:
    """A few cases per operation and mode: the CI run."""
    await fuzz_role(role, FAST_EXAMPLES, gateway, keys, seeded, openapi_document, reliability)


@pytest.mark.long
@pytest.mark.parametrize("role", ROLES)
async def test_many_generated_requests_keep_the_contract(
    role: str,
    gateway: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    seeded: Seeded,
    openapi_document: dict[str, Any],
    reliability: Any,
) -> None:
    """Many more cases per operation and mode (`--long`)."""
    await fuzz_role(role, LONG_EXAMPLES, gateway, keys, seeded, openapi_document, reliability)
