"""Helpers every service's tests share: problem+json answers and the change feed."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi import Header
from fastapi import Query
from fastapi.responses import JSONResponse

from services.kernel.http import ServiceClient
from tests.actors import SERVICE
from tests.conftest import TEST_INTERNAL_TOKEN


def assert_problem(
    response: httpx.Response, status: int, field: str | None = None
) -> dict[str, Any]:
    """A problem+json of `status`; if `field` is given, an error entry names it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"] and body["type"].startswith("/problems/")
    assert "Traceback" not in response.text and "SELECT" not in response.text
    if field is not None:
        locs = [".".join(str(p) for p in e["loc"]) for e in body.get("errors", [])]
        assert any(field in loc for loc in locs) or field in body["detail"], body
    return body


async def feed_head(client: httpx.AsyncClient) -> int:
    """The service's change-feed head: the highest committed sequence number."""
    response = await client.get(
        "/internal/changes", params={"after": 0, "limit": 1}, headers=SERVICE
    )
    assert response.status_code == 200
    return int(response.json()["head"])


async def changes_after(client: httpx.AsyncClient, after: int) -> list[dict[str, Any]]:
    """Every change-feed entry after `after`, following pages."""
    changes: list[dict[str, Any]] = []
    while True:
        response = await client.get(
            "/internal/changes", params={"after": after, "limit": 1000}, headers=SERVICE
        )
        assert response.status_code == 200
        page = response.json()
        changes += page["changes"]
        if not page["changes"]:
            return changes
        after = page["next_after"]


async def list_all(
    client: httpx.AsyncClient,
    path: str,
    *,
    page_size: int = 100,
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every result of a list route, following `meta.next_cursor` page by page."""
    results: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"page_size": page_size, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=params, headers=headers or SERVICE)
        assert response.status_code == 200, response.text
        page = response.json()
        results += page["results"]
        cursor = page["meta"]["next_cursor"]
        if not cursor:
            return results


def list_by_ids_stand_in(library: str, live_ids: Collection[str]) -> FastAPI:
    """A peer service's `GET /<library>?ids=…` as every domain service answers it: the live
    ones among the IDs, in ID order. `app.state.calls` records the IDs of each call."""
    app = FastAPI()
    app.state.calls = []

    @app.get(f"/{library}")
    async def list_by_ids(
        ids: Annotated[str, Query()] = "",
        token: Annotated[str | None, Header(alias="X-Internal-Token")] = None,
    ) -> Any:
        if token != TEST_INTERNAL_TOKEN:
            return JSONResponse({"status": 401}, status_code=401)
        wanted = [i for i in ids.split(",") if i]
        app.state.calls.append(wanted)
        found = sorted(i for i in set(wanted) if i in live_ids)
        return {
            "meta": {"count": len(found), "page_size": len(wanted)},
            "results": [{"id": i} for i in found],
        }

    return app


def references_stand_in(counts: dict[str, int] | None = None) -> FastAPI:
    """A referring service's `GET /internal/references/institutions/{id}` as every domain
    service answers it; `counts` (ID → live referring records, default 0) may change later."""
    app = FastAPI()
    app.state.counts = counts if counts is not None else {}

    @app.get("/internal/references/institutions/{record_id}")
    async def count(
        record_id: str, token: Annotated[str | None, Header(alias="X-Internal-Token")] = None
    ) -> Any:
        if token != TEST_INTERNAL_TOKEN:
            return JSONResponse({"status": 401}, status_code=401)
        return {"library": "stand-in", "count": app.state.counts.get(record_id, 0)}

    return app


def stand_in_referrers(app: FastAPI | None = None) -> dict[str, ServiceClient]:
    """Clients of experts, outcomes and datasets for an institutions app under test, all
    answered by `app` (a `references_stand_in`; a fresh one counting nothing by default)."""
    app = app or references_stand_in()
    return {
        name: ServiceClient(
            name,
            f"http://{name}",
            TEST_INTERNAL_TOKEN,
            transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        )
        for name in ("experts", "outcomes", "datasets")
    }
