"""Integrity in the institutions service itself, on both backends: the caller's deadline, the
life of an Idempotency-Key, and the references asked for before a delete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from services.institutions.config import InstitutionsSettings
from services.institutions.main import create_app
from services.institutions.models import TABLES as INSTITUTIONS_TABLES
from services.kernel.db import Database
from services.kernel.db import utcnow
from services.kernel.deadline import BUDGET_HEADER
from services.kernel.http import ServiceClient
from tests.actors import ADMIN
from tests.conftest import TEST_INTERNAL_TOKEN
from tests.conftest import asgi_client
from tests.helpers import assert_problem
from tests.helpers import feed_head
from tests.helpers import references_stand_in
from tests.helpers import stand_in_referrers
from tests.institutions.helpers import create
from tests.institutions.helpers import read
from tests.institutions.helpers import unique_name

KEYED_ADMIN = {**ADMIN, "X-Actor-Key-Id": "key_test_integrity"}


async def test_a_write_past_its_callers_deadline_is_503_and_never_commits(
    client: httpx.AsyncClient,
) -> None:
    head = await feed_head(client)
    late = await client.post(
        "/institutions", json={"name": unique_name()}, headers={**ADMIN, BUDGET_HEADER: "0"}
    )
    problem = assert_problem(late, 503)
    assert "nothing was written" in problem["detail"] and late.headers["retry-after"]
    assert await feed_head(client) == head
    # Within the budget the same write goes through.
    timely = await client.post(
        "/institutions", json={"name": unique_name()}, headers={**ADMIN, BUDGET_HEADER: "5000"}
    )
    assert timely.status_code == 201


async def test_an_idempotency_key_is_forgotten_after_a_day(
    client: httpx.AsyncClient, institutions_db: Database
) -> None:
    headers = {**KEYED_ADMIN, "Idempotency-Key": "expires-after-a-day"}
    first = await client.post("/institutions", json={"name": unique_name()}, headers=headers)
    assert first.status_code == 201
    other_body = {"name": unique_name()}
    assert_problem(await client.post("/institutions", json=other_body, headers=headers), 422)
    async with institutions_db.sessionmaker() as session:
        await session.execute(
            update(INSTITUTIONS_TABLES.idempotency)
            .where(INSTITUTIONS_TABLES.idempotency.key == "expires-after-a-day")
            .values(created_at=utcnow() - timedelta(hours=25))
        )
        await session.commit()
    again = await client.post("/institutions", json=other_body, headers=headers)
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]


@pytest.fixture(scope="module")
async def counted(
    institutions_db: Database, platform_settings: object
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, int]]]:
    """The service with referring services that say what `counts` says (ID → count)."""
    counts: dict[str, int] = {}
    app = create_app(
        InstitutionsSettings(),
        platform_settings,  # type: ignore[arg-type]
        institutions_db,
        stand_in_referrers(references_stand_in(counts)),
    )
    async with asgi_client(app) as http:
        yield http, counts


async def test_delete_asks_the_referring_services_and_refuses_while_referred_to(
    counted: tuple[httpx.AsyncClient, dict[str, int]],
) -> None:
    client, counts = counted
    record = await create(client)
    counts[record["id"]] = 2
    refused = await client.delete(
        f"/institutions/{record['id']}", headers={**ADMIN, "If-Match": '"v1"'}
    )
    problem = assert_problem(refused, 409)
    # Each of the three referring services (one stand-in here) answered 2.
    assert {tuple(e["loc"]) for e in problem["errors"]} == {
        ("references", "experts"),
        ("references", "outcomes"),
        ("references", "datasets"),
    }
    assert (await read(client, record["id"])).status_code == 200
    counts[record["id"]] = 0
    deleted = await client.delete(
        f"/institutions/{record['id']}", headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert deleted.status_code == 204


async def test_delete_is_503_when_a_referring_service_cannot_answer(
    institutions_db: Database, platform_settings: object
) -> None:
    down = {
        name: ServiceClient(name, "http://127.0.0.1:9", TEST_INTERNAL_TOKEN, read_retries=0)
        for name in ("experts", "outcomes", "datasets")
    }
    app = create_app(InstitutionsSettings(), platform_settings, institutions_db, down)  # type: ignore[arg-type]
    async with asgi_client(app) as client:
        record = await create(client)
        refused = await client.delete(
            f"/institutions/{record['id']}", headers={**ADMIN, "If-Match": '"v1"'}
        )
        assert_problem(refused, 503)
        assert (await read(client, record["id"])).status_code == 200
    for peer in down.values():
        await peer.aclose()
