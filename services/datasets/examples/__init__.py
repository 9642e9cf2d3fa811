"""Two example special databases users recognise, and a loader that fills them from data files.

`nsfc-disciplines`: the NSFC discipline taxonomy (a hierarchical code list).
`gov-work-reports`: the State Council's 政府工作报告 (long documents).
Sources and licences: NOTICE.md beside this file.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.datasets.exceptions import DatasetDeleted
from services.datasets.exceptions import DatasetNotFound
from services.datasets.references import ReferenceChecker
from services.datasets.schemas import DatasetCreate
from services.datasets.schemas import RecordFields
from services.datasets.service import DatasetService
from services.datasets.service import RecordService
from services.kernel.internal_auth import Actor
from services.kernel.ownership import UpsertResult
from services.vocabularies.disciplines import DATA_FILE as NSFC_VOCABULARY_FILE

EXAMPLES_DIR = Path(__file__).parent

# Code length → level: A01 (1), A0101 (2), A010101 (3).
_NSFC_LEVELS = {3: 1, 5: 2, 7: 3}


def definition(slug: str) -> DatasetCreate:
    """The example's definition, validated as `POST /datasets` would."""
    path = EXAMPLES_DIR / f"{slug}.json"
    if slug not in LOADERS or not path.is_file():
        raise KeyError(f"no example dataset {slug!r}; examples: {', '.join(LOADERS)}")
    return DatasetCreate.model_validate_json(path.read_bytes())


def _json_lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def nsfc_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(code, values) per line of the TaxoExt `nsfc.jl` file."""
    for row in _json_lines(path):
        code = row["_id"]
        parents = row.get("parents") or []
        yield (
            code,
            {
                "code": code,
                "name": row["name"],
                "name_en": row.get("name_en") or None,
                "parent_code": parents[0] if parents else None,
                "level": _NSFC_LEVELS[len(code)],
                "division": code[0],
                "is_leaf": bool(row.get("is_leaf")),
            },
        )


def gov_report_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(title, values) per report or resolution of `government_work_reports.jsonl`."""
    for row in _json_lines(path):
        title = row["title"]
        year = row.get("year")
        yield (
            title,
            {
                "title": title,
                "year": int(year) if year else None,
                # Resolutions approving a report carry no year of their own in the source.
                "kind": "resolution" if "决议" in title else "report",
                "content": row.get("content"),
                "url": row.get("url"),
            },
        )


@dataclass(frozen=True, slots=True)
class Loader:
    source: str
    records: Callable[[Path], Iterator[tuple[str, dict[str, Any]]]]
    default_file: Path | None = None


LOADERS: dict[str, Loader] = {
    "nsfc-disciplines": Loader("nsfc-taxoext", nsfc_records, NSFC_VOCABULARY_FILE),
    "gov-work-reports": Loader("wikisource", gov_report_records),
}


async def load(
    session: AsyncSession,
    slug: str,
    data_file: Path | None = None,
    *,
    actor: Actor,
    references: ReferenceChecker | None = None,
) -> Counter[UpsertResult]:
    """Define the example dataset if it is missing, then upsert every record of `data_file`.

    Runs in the caller's transaction (commit it); re-running it changes nothing.
    """
    if slug not in LOADERS:
        raise KeyError(f"no example dataset {slug!r}; examples: {', '.join(LOADERS)}")
    loader = LOADERS[slug]
    path = data_file or loader.default_file
    if path is None:
        raise ValueError(f"{slug}: give the data file to load (see NOTICE.md for its source)")
    checker = references or ReferenceChecker({})
    datasets = DatasetService(session, checker)
    try:
        await datasets.get(slug, actor)
    except (DatasetNotFound, DatasetDeleted):
        await datasets.create(definition(slug), actor)
    items = (
        (loader.source, external_id, RecordFields(values=values))
        for external_id, values in loader.records(Path(path))
    )
    return await RecordService(session, checker).upsert_many(slug, items, actor)
