"""The raw baseline of an import: the same records straight into PostgreSQL and Elasticsearch.

    ./dev bench baseline_raw [--data DIR]      # alone; bench/import_throughput.py runs it too

The generated `outcomes.jsonl` is read and each record stored the cheapest way the same
servers allow, with none of the platform's work (no validation, linking, change feed, text
analysis): PostgreSQL `COPY` (asyncpg `copy_records_to_table`) into the outcomes service's own
table definition (its indexes and unique constraints included) in a schema of its own, then
Elasticsearch `_bulk` of the same records as JSON, 500 per request as the indexer sends them,
into an index created by the production `ElasticsearchBackend.ensure_library` (the outcomes
mapping and settings), and a refresh so every record is searchable. The clock covers reading
the file, both loads and the refresh; the schema and index are dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from bench.generate import DEFAULT_OUT
from bench.measure import machine_info
from bench.measure import table
from bench.measure import write_result
from services.gateway.search.backends.elasticsearch import BULK_CHUNK
from services.gateway.search.backends.elasticsearch import ElasticsearchBackend
from services.gateway.search.libraries import LIBRARY_SCHEMAS
from services.outcomes.models import Outcome

LIST_SEPARATOR = "；"


@dataclass
class RawFigures:
    records: int
    postgres_seconds: float
    elasticsearch_seconds: float

    @property
    def seconds(self) -> float:
        return self.postgres_seconds + self.elasticsearch_seconds

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds

    def as_dict(self) -> dict[str, float]:
        return {
            "records": self.records,
            "postgres_seconds": round(self.postgres_seconds, 2),
            "elasticsearch_seconds": round(self.elasticsearch_seconds, 2),
            "seconds": round(self.seconds, 2),
            "records_per_second": round(self.records_per_second, 1),
        }


def _split(value: str | None) -> list[str]:
    return [part for part in (value or "").split(LIST_SEPARATOR) if part]


def _month(value: str | None) -> date | None:
    return date.fromisoformat(f"{value}-01") if value and len(value) == 7 else None


def read_records(path: Path) -> list[dict[str, Any]]:
    """The generated outcomes as dicts (Chinese keys, as in the file)."""
    with path.open("rb") as handle:
        return [orjson.loads(line) for line in handle if line.strip()]


def table_row(number: int, record: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A row of the outcomes table holding the record as it is (labels, names, lists)."""
    published = record.get("发表日期")
    return {
        "id": f"raw_{number:08d}",
        "owner_org": "platform",
        "source": "outcomes",
        "external_id": record["编号"],
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
        "title": record["题名"],
        "abstract": record.get("摘要"),
        "full_text": None,
        "full_text_length": None,
        "type": record["成果类型"],
        "series": record.get("刊名"),
        "authors": orjson.dumps([{"name": n} for n in _split(record.get("作者"))]).decode(),
        "institution_ids": orjson.dumps(_split(record.get("单位"))).decode(),
        "published_on": _month(published),
        "published_precision": "month" if published else None,
        "keywords": orjson.dumps(_split(record.get("关键词"))).decode(),
        "disciplines": "[]",
        "language": "zh",
        "visibility": record.get("公开范围") or "公开",
        "doi": None,
        "url": None,
    }


def index_document(number: int, record: dict[str, Any]) -> dict[str, Any]:
    """The record in the production mapping's fields, its texts as they are."""
    keywords = _split(record.get("关键词"))
    published = record.get("发表日期") or ""
    return {
        "id": f"raw_{number:08d}",
        "library": "outcomes",
        "version": 1,
        "deleted": False,
        "visibility": record.get("公开范围"),
        "owner_org": "platform",
        "label": record["题名"],
        "source": record,
        "tok_title": record["题名"],
        "tok_abstract": record.get("摘要") or "",
        "tok_keywords": " ".join(keywords),
        "tok_authors": " ".join(_split(record.get("作者"))),
        "tok_institutions": " ".join(_split(record.get("单位"))),
        "v_type": [record["成果类型"]],
        "v_keyword": keywords,
        "v_year": [int(published[:4])] if published[:4].isdigit() else [],
    }


def _asyncpg_url(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def copy_into_postgres(database_url: str, schema: str, path: Path) -> tuple[int, float]:
    """Create the outcomes table in `schema`, then read the file and COPY it in: (rows, s)."""
    metadata = MetaData()
    outcomes = Outcome.__table__.to_metadata(metadata, schema=schema)
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
    columns = [column.name for column in outcomes.columns]
    connection = await asyncpg.connect(_asyncpg_url(database_url))
    try:
        started = time.perf_counter()
        now = datetime.now(UTC)
        rows = [table_row(n, r, now) for n, r in enumerate(read_records(path), start=1)]
        await connection.copy_records_to_table(
            outcomes.name,
            schema_name=schema,
            columns=columns,
            records=[tuple(row[c] for c in columns) for row in rows],
        )
        return len(rows), time.perf_counter() - started
    finally:
        await connection.close()


async def bulk_into_elasticsearch(elasticsearch_url: str, prefix: str, path: Path) -> float:
    """Create the production outcomes index, then read the file and `_bulk` it in: seconds."""
    backend = ElasticsearchBackend(elasticsearch_url, index_prefix=prefix)
    try:
        await backend.ensure_library(LIBRARY_SCHEMAS["outcomes"])
    finally:
        await backend.close()
    alias = backend.alias("outcomes")
    async with httpx.AsyncClient(base_url=elasticsearch_url, timeout=120) as client:
        started = time.perf_counter()
        records = read_records(path)
        for first in range(0, len(records), BULK_CHUNK):
            body = b"".join(
                orjson.dumps({"index": {"_index": alias, "_id": f"raw_{n:08d}"}})
                + b"\n"
                + orjson.dumps(index_document(n, record))
                + b"\n"
                for n, record in enumerate(records[first : first + BULK_CHUNK], start=first + 1)
            )
            response = await client.post(
                "/_bulk", content=body, headers={"Content-Type": "application/x-ndjson"}
            )
            response.raise_for_status()
            if response.json().get("errors"):
                raise RuntimeError(f"Elasticsearch refused raw documents: {response.text[:500]}")
        (await client.post(f"/{alias}/_refresh")).raise_for_status()
        return time.perf_counter() - started


async def _drop(database_url: str, schema: str, elasticsearch_url: str, prefix: str) -> None:
    connection = await asyncpg.connect(_asyncpg_url(database_url))
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()
    async with httpx.AsyncClient(base_url=elasticsearch_url, timeout=60) as client:
        found = await client.get(f"/_cat/indices/{prefix}_*", params={"format": "json"})
        for row in found.json() if found.status_code == 200 else []:
            await client.delete(f"/{row['index']}")


async def raw_baseline(database_url: str, elasticsearch_url: str, path: Path) -> RawFigures:
    """COPY then `_bulk` of the file's records on fresh tables and indexes, dropped after."""
    run = secrets.token_hex(3)
    schema, prefix = f"b{run}_raw", f"zhihui_bench_{run}_raw"
    try:
        records, postgres_seconds = await copy_into_postgres(database_url, schema, path)
        elasticsearch_seconds = await bulk_into_elasticsearch(elasticsearch_url, prefix, path)
    finally:
        await _drop(database_url, schema, elasticsearch_url, prefix)
    return RawFigures(records, postgres_seconds, elasticsearch_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    machine = machine_info()
    figures = asyncio.run(
        raw_baseline(
            os.environ["ZHIHUI_TEST_POSTGRES_URL"],
            os.environ["ZHIHUI_TEST_ELASTICSEARCH_URL"],
            args.data / "outcomes.jsonl",
        )
    )
    found = figures.as_dict()
    columns = ("records", "postgres_seconds", "elasticsearch_seconds", "seconds")
    headers = ["records", "COPY s", "_bulk s", "total s", "records/s"]
    print(table(headers, [[*(found[c] for c in columns), found["records_per_second"]]]))
    print(f"results: {write_result('baseline_raw', {'machine': machine, 'raw': found})}")


if __name__ == "__main__":
    main()
