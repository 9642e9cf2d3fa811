"""One contract for every declared record library, through the gateway, on both backends.

The libraries come from their declarations (kernel/library.py) and each body from its
schema's required fields, so a library added later is held to the same contract without
editing this file: create, read with its ETag, conditional patch (428 without If-Match, 412
when stale), upsert by key (created, then unchanged), bulk lines answered one by one, 404
for an unknown ID of the right shape, 400 for an unknown ID scheme, delete (428, then 204,
then 410), every refusal a problem+json that wrote nothing.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx
import orjson
import pytest
from pydantic import BaseModel

from services.gateway.libraries import LIBRARIES
from services.kernel.library import LibraryFacts
from services.kernel.library import record_libraries
from tests.institutions.helpers import assert_problem

ROUTES = {library.name: library for library in LIBRARIES}


def minimal_body(model: type[BaseModel]) -> dict[str, Any]:
    """The smallest valid body: each required field, a unique text or a date."""
    body: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if not field.is_required():
            continue
        if field.annotation is date:
            body[name] = "2024-01-19"
        else:
            body[name] = f"契约测试{uuid.uuid4().hex[:8]}"
    return body


@pytest.fixture(params=[f.name for f in record_libraries()])
def library(request: pytest.FixtureRequest) -> LibraryFacts:
    return next(f for f in record_libraries() if f.name == request.param)


async def test_the_record_routes_keep_the_contract(
    gateway: httpx.AsyncClient, keys: dict[str, dict[str, str]], library: LibraryFacts
) -> None:
    admin = keys["admin"]
    base = f"/api/v1/{library.name}"
    body = minimal_body(ROUTES[library.name].schemas.create)

    created = await gateway.post(base, json=body, headers=admin)
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["id"].startswith(f"{library.id_prefix}_")
    assert created.headers["location"] == f"{base}/{record['id']}"
    path = f"{base}/{record['id']}"
    read = await gateway.get(path, headers=admin)
    assert read.status_code == 200 and read.headers["etag"] == '"v1"'

    field = next(iter(body))
    change = {field: f"{body[field]}改"} if isinstance(body[field], str) else {}
    assert_problem(await gateway.patch(path, json=change, headers=admin), 428)
    stale = await gateway.patch(path, json=change, headers={**admin, "If-Match": '"v9"'})
    assert_problem(stale, 412)
    patched = await gateway.patch(path, json=change, headers={**admin, "If-Match": '"v1"'})
    assert patched.status_code == 200 and patched.headers["etag"] == '"v2"', patched.text

    key = f"{base}/sources/contract/{uuid.uuid4().hex[:10]}"
    fields = ROUTES[library.name].schemas.fields
    first = await gateway.put(key, json=minimal_body(fields), headers=admin)
    assert first.status_code == 201 and first.headers["zhihui-upsert"] == "created", first.text
    again = await gateway.put(key, json=orjson.loads(first.request.content), headers=admin)
    assert again.status_code == 200 and again.headers["zhihui-upsert"] == "unchanged"
    assert again.json()["id"] == first.json()["id"]

    lines = [
        {"source": "contract", "external_id": uuid.uuid4().hex[:10], **minimal_body(fields)},
        {"source": "contract", "external_id": uuid.uuid4().hex[:10], "no_such_field": 1},
    ]  # fmt: skip
    bulk = await gateway.post(
        f"{base}/bulk",
        content=b"\n".join(orjson.dumps(line) for line in lines),
        headers={**admin, "Content-Type": "application/x-ndjson"},
    )
    assert bulk.status_code == 200, bulk.text
    assert [r["status"] for r in bulk.json()["results"]] == ["created", "rejected"]

    unknown = await gateway.get(f"{base}/{library.id_prefix}_{'z' * 20}", headers=admin)
    assert_problem(unknown, 404)
    assert_problem(await gateway.get(f"{base}/nosuchscheme:1", headers=admin), 400)

    assert_problem(await gateway.delete(path, headers=admin), 428)
    gone = await gateway.delete(path, headers={**admin, "If-Match": '"v2"'})
    assert gone.status_code == 204
    assert_problem(await gateway.get(path, headers=admin), 410)
