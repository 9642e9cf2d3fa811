"""Load generation: mixed traffic from N closed-loop workers, and what it measured.

`Traffic` runs N asyncio workers against the gateway (80 % searches, 15 % reads by ID, 5 %
creates and ETag'd patches), each request checked against the status it must have and each
write carrying a unique marker; `find_markers` asks the index which records carry them;
`sample_rss` records every process's RSS once a second. The platform and the corpus come from
load_platform.py.
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import time
from collections import defaultdict
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import httpx
import psutil

from tests.reliability.load_platform import OWN_ORG
from tests.reliability.load_platform import Corpus

# ---------------------------------------------------------------- measurements


@dataclass
class Sample:
    kind: str
    at: float  # seconds since the load started, when the answer arrived
    seconds: float
    ok: bool


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


async def sample_rss(
    pids: Mapping[str, int], every: float, stop: asyncio.Event
) -> dict[str, list[int]]:
    """RSS (bytes) of each process, once per `every` seconds until `stop` is set."""
    processes = {name: psutil.Process(pid) for name, pid in pids.items()}
    series: dict[str, list[int]] = {name: [] for name in pids}
    while not stop.is_set():
        for name, process in processes.items():
            series[name].append(process.memory_info().rss)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
    return series


def thirds_growth(series: list[int]) -> tuple[float, float]:
    """Mean RSS (MiB) of the middle third and of the last third of `series`."""
    third = len(series) // 3
    middle, last = series[third : 2 * third], series[2 * third :]
    mib = 1024 * 1024
    return sum(middle) / len(middle) / mib, sum(last) / len(last) / mib


# ---------------------------------------------------------------- traffic


@dataclass
class Written:
    """A record a worker created or patched, and the marker its latest version carries."""

    library: str
    id: str
    marker: str
    superseded: list[str] = field(default_factory=list)  # markers of its older versions


@dataclass
class Traffic:
    """N closed-loop workers of mixed traffic; every request is checked against its expected
    status (an unexpected one is an error, with its details kept for the report)."""

    http: httpx.AsyncClient
    corpus: Corpus
    callers: dict[str, dict[str, str]]  # anonymous, reader, editor, admin
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    written: dict[str, Written] = field(default_factory=dict)  # by record id
    started: float = 0.0
    _counter: int = 0

    async def run(self, workers: int, seconds: float) -> None:
        self.started = time.monotonic()
        deadline = self.started + seconds
        await asyncio.gather(*(self._worker(w, deadline) for w in range(workers)))

    async def _worker(self, index: int, deadline: float) -> None:
        rng = random.Random(f"{self.tag}-{index}")
        mine: list[str] = []  # ids this worker wrote: only it patches them, so no 412 races
        while time.monotonic() < deadline:
            roll = rng.random()
            if roll < 0.80:
                await self._search(rng)
            elif roll < 0.95:
                await self._read(rng)
            elif roll < 0.98 or not mine:
                await self._create(rng, index, mine)
            else:
                await self._patch(rng, index, rng.choice(mine))

    async def _call(
        self,
        kind: str,
        method: str,
        path: str,
        expect: int,
        caller: str,
        *,
        must_hit: bool = False,
        **kwargs: Any,
    ) -> httpx.Response | None:
        """One request; an answer other than `expect` (or, with `must_hit`, a list with no
        results) is an error."""
        began = time.monotonic()
        try:
            headers = {**self.callers[caller], **kwargs.pop("headers", {})}
            response = await self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            ended = time.monotonic()
            self.samples.append(Sample(kind, ended - self.started, ended - began, False))
            self.errors.append(f"{kind} {method} {path}: {type(exc).__name__}")
            return None
        ended = time.monotonic()
        ok = response.status_code == expect
        if ok and must_hit and response.json()["meta"]["count"] < 1:
            ok = False
            self.errors.append(f"{kind} {path} {kwargs.get('params')} as {caller}: no hits")
        elif not ok:
            self.errors.append(
                f"{kind} {method} {path} as {caller}: {response.status_code} (expected {expect}) "
                f"{response.text[:200]}"
            )
        self.samples.append(Sample(kind, ended - self.started, ended - began, ok))
        return response

    def _marker(self, worker: int) -> str:
        self._counter += 1
        return f"load{self.tag}w{worker}n{self._counter}"

    async def _search(self, rng: random.Random) -> None:
        corpus = self.corpus
        caller = rng.choice(("anonymous", "reader", "reader", "admin"))
        word = rng.choice(corpus.keywords)
        shape = rng.random()
        path = "/api/v1/outcomes"
        params: dict[str, str | int] = {"q": word}
        if shape < 0.40:
            pass  # one CSL keyword: a seeded paper carries it, so admins must get hits
        elif shape < 0.55:
            start = rng.randint(2008, 2020)
            params = {
                "q": f"{word} {rng.choice(corpus.keywords)}",
                "filter": f"year:{start}..{start + 3}",
                "facets": "type,year,keyword",
            }
        elif shape < 0.65:
            params = {"q": word, "page": 2, "page_size": 10, "sort": "year:desc"}
        elif shape < 0.77:
            path = "/api/v1/institutions"
            params = {
                "q": rng.choice(corpus.university_names)[:4],
                "filter": f"province:{rng.choice(corpus.provinces)}|北京",
                "facets": "type,province",
            }
        elif shape < 0.84:
            path = "/api/v1/institutions"
            params = {
                "filter": f"province:{rng.choice(corpus.provinces)}",
                "sort": "name:asc",
                "page": rng.randint(1, 3),
            }
        elif shape < 0.90:
            path, params = "/api/v1/experts", {"q": rng.choice(corpus.areas), "facets": "title"}
        elif shape < 0.96:
            path = "/api/v1/search"
            params = {"q": word, "libraries": "experts,outcomes,institutions"}
        else:
            path, params = "/api/v1/autocomplete", {"q": rng.choice(corpus.university_names)[:2]}
        must_hit = shape < 0.40 and caller == "admin"
        await self._call("search", "GET", path, 200, caller, params=params, must_hit=must_hit)

    async def _read(self, rng: random.Random) -> None:
        caller = rng.choice(("anonymous", "reader", "admin"))
        if rng.random() < 0.05:  # a stale link: the not-found path under load
            library = rng.choice(list(self.corpus.records))
            prefix = {"institutions": "ins", "experts": "exp", "outcomes": "out"}[library]
            path = f"/api/v1/{library}/{prefix}_{secrets.token_hex(8)}"
            await self._call("read", "GET", path, 404, caller)
            return
        record = rng.choice(self.corpus.records[rng.choice(list(self.corpus.records))])
        visible = (
            caller == "admin"
            or record.visibility == "public"
            or (
                caller == "reader"
                and (record.visibility == "partner" or record.owner_org == OWN_ORG)
            )
        )
        await self._call(
            "read", "GET", f"/api/v1/{record.library}/{record.id}", 200 if visible else 404, caller
        )

    async def _create(self, rng: random.Random, worker: int, mine: list[str]) -> None:
        marker = self._marker(worker)
        if rng.random() < 0.5:
            library = "outcomes"
            body: dict[str, Any] = {
                "title": f"关于{rng.choice(self.corpus.keywords)}的政策建议（{marker}）",
                "abstract": "围绕" + "、".join(rng.sample(self.corpus.keywords, 3)) + "提出建议。",
                "type": "policy_brief",
                "keywords": [rng.choice(self.corpus.keywords), marker],
                "published_on": f"{rng.randint(2015, 2024)}-06-01",
                "visibility": rng.choice(("public", "partner")),
            }
        else:
            library = "institutions"
            body = {
                "name": f"{rng.choice(self.corpus.areas)}研究院（{marker}）",
                "type": "think_tank",
                "province": rng.choice(self.corpus.provinces),
                "tags": [marker],
            }
        response = await self._call(
            "create", "POST", f"/api/v1/{library}", 201, "editor", json=body
        )
        if response is not None and response.status_code == 201:
            record_id = response.json()["id"]
            mine.append(record_id)
            self.written[record_id] = Written(library, record_id, marker)

    async def _patch(self, rng: random.Random, worker: int, record_id: str) -> None:
        """Read for the ETag, then replace the record's marker (merge patch, If-Match)."""
        written = self.written[record_id]
        path = f"/api/v1/{written.library}/{record_id}"
        current = await self._call("read", "GET", path, 200, "editor")
        if current is None or current.status_code != 200:
            return
        marker = self._marker(worker)
        list_field = "keywords" if written.library == "outcomes" else "tags"
        values = [v for v in current.json()[list_field] if not v.startswith(f"load{self.tag}")]
        change = {list_field: [*values, marker]}
        headers = {"If-Match": current.headers["etag"]}
        response = await self._call(
            "patch", "PATCH", path, 200, "editor", json=change, headers=headers
        )
        if response is not None and response.status_code == 200:
            written.superseded.append(written.marker)
            written.marker = marker

    # ------------------------------------------------------------ after the load

    def by_kind(self) -> dict[str, list[Sample]]:
        kinds: dict[str, list[Sample]] = defaultdict(list)
        for sample in self.samples:
            kinds[sample.kind].append(sample)
        return kinds

    def windows(self, seconds: float, length: float) -> list[list[Sample]]:
        """Samples by the window (of `length` s) their answer arrived in; full windows only."""
        count = max(int(seconds // length), 1)
        buckets: list[list[Sample]] = [[] for _ in range(count)]
        for sample in self.samples:
            slot = int(sample.at // length)
            if slot < count:
                buckets[slot].append(sample)
        return buckets


async def find_markers(
    http: httpx.AsyncClient, admin: Mapping[str, str], markers: dict[str, tuple[str, str]]
) -> dict[str, set[str]]:
    """For each marker (→ library, id): the ids a filter on it returns from the index now."""
    field_of = {"outcomes": "keyword", "institutions": "tags"}
    found: dict[str, set[str]] = {m: set() for m in markers}
    for library, filter_field in field_of.items():
        wanted = [m for m, (lib, _) in markers.items() if lib == library]
        for start in range(0, len(wanted), 40):
            chunk = wanted[start : start + 40]
            params = {
                "filter": f"{filter_field}:{'|'.join(chunk)}",
                "page_size": 100,
                "select": f"id,{'keywords' if library == 'outcomes' else 'tags'}",
            }
            response = await http.get(f"/api/v1/{library}", params=params, headers=dict(admin))
            assert response.status_code == 200, response.text
            for hit in response.json()["results"]:
                values = hit.get("keywords") or hit.get("tags") or []
                for value in values:
                    if value in found:
                        found[value].add(hit["id"])
    return found
