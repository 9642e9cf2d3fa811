"""Clients that write with the idempotent upsert (PUT …/sources/{source}/{external_id}) and
retry until acknowledged, so the outcome of every key is known however the platform fails.

Every answer is classified: 2xx acknowledged, 503 problem+json "unavailable" (retried), a
transport error "cut" (retried; the gateway itself was down), anything else a failure that
the test reports.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import httpx

RETRY_PAUSE_SECONDS = 0.1
GIVE_UP_SECONDS = 120.0


def outcome_body(title: str) -> dict[str, Any]:
    return {"title": title, "type": "policy_brief", "visibility": "public", "owner_org": "cast"}


@dataclass
class Acknowledged:
    record_id: str
    version: int
    title: str


@dataclass
class UpsertClients:
    """Upserts outcomes by key, retrying each until it is acknowledged."""

    http: httpx.AsyncClient
    headers: dict[str, str]
    source: str
    acknowledged: dict[str, Acknowledged] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    outage: bool = False  # set by the test while the fault lasts
    answers_in_outage: Counter[str] = field(default_factory=Counter)

    def _note(self, kind: str) -> None:
        self.answers[kind] += 1
        if self.outage:
            self.answers_in_outage[kind] += 1

    async def upsert(self, key: str, title: str) -> Acknowledged:
        """PUT until 2xx; 503 problem+json and cut connections are retried, others fail."""
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while time.monotonic() < deadline:
            try:
                response = await self.http.put(
                    f"/api/v1/outcomes/sources/{self.source}/{key}",
                    json=outcome_body(title),
                    headers=self.headers,
                )
            except httpx.TransportError:
                self._note("cut")
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            if response.status_code in (200, 201):
                self._note("acknowledged")
                body = response.json()
                assert response.headers["etag"] == f'"v{body["version"]}"', response.headers
                done = Acknowledged(body["id"], body["version"], title)
                self.acknowledged[key] = done
                return done
            self._classify(response, f"PUT {key}")
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
        raise AssertionError(f"PUT {key} never acknowledged in {GIVE_UP_SECONDS:.0f}s")

    async def read(self, record_id: str) -> None:
        """One GET of an acknowledged record: 200 with it, or a clean 503."""
        try:
            response = await self.http.get(f"/api/v1/outcomes/{record_id}", headers=self.headers)
        except httpx.TransportError:
            self._note("cut")
            return
        if response.status_code == 200:
            self._note("read")
            assert response.json()["id"] == record_id
            return
        self._classify(response, f"GET {record_id}")

    def _classify(self, response: httpx.Response, what: str) -> None:
        problem = response.headers.get("content-type", "").startswith("application/problem+json")
        if response.status_code == 503 and problem and "Traceback" not in response.text:
            self._note("unavailable")
        else:
            self._note("failed")
            self.failures.append(f"{what}: {response.status_code} {response.text[:300]}")


def stored_problems(
    stored: Iterable[dict[str, Any]], source: str, acknowledged: dict[str, Acknowledged]
) -> list[str]:
    """Every acknowledged key is stored once, at its acknowledged version and content."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for record in stored:
        if record.get("source") == source:
            by_key.setdefault(str(record["external_id"]), []).append(record)
    problems = [f"{k}: {len(v)} records" for k, v in by_key.items() if len(v) != 1]
    for key, done in acknowledged.items():
        records = by_key.get(key, [])
        if not records:
            problems.append(f"{key}: acknowledged as {done.record_id}, not stored")
            continue
        record = records[0]
        if (record["id"], record["version"], record["title"]) != (
            done.record_id,
            done.version,
            done.title,
        ):
            problems.append(f"{key}: stored {record['id']} v{record['version']}, acked {done}")
    problems += [f"{k}: stored but never acknowledged" for k in set(by_key) - set(acknowledged)]
    return problems
