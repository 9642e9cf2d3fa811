"""Search-document projections of datasets and their records, carried by the change feed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import Protocol

from services.datasets.models import Dataset
from services.datasets.schemas import FieldSpec
from services.datasets.values import labels
from services.datasets.values import references


@dataclass(frozen=True, slots=True)
class DatasetView:
    """What a record's document needs from its dataset's definition."""

    id: str
    slug: str
    visibility: str
    title_field: str
    fields: tuple[FieldSpec, ...]

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetView:
        return cls(
            id=dataset.id,
            slug=dataset.slug,
            visibility=dataset.visibility,
            title_field=dataset.title_field,
            fields=tuple(parse_fields(dataset.fields)),
        )

    def title(self, values: dict[str, Any]) -> str | None:
        value = values.get(self.title_field)
        return value if isinstance(value, str) else None


def parse_fields(stored: Sequence[dict[str, Any]]) -> list[FieldSpec]:
    return [FieldSpec.model_validate(f) for f in stored]


class StoredRecord(Protocol):
    """What a record's document reads: a stored row, or a frozen copy of one (read-only)."""

    @property
    def id(self) -> str: ...
    @property
    def owner_org(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


def dataset_document(dataset: Dataset) -> dict[str, Any]:
    """The definition, so the indexer can map fields (searchable, facetable, …) per dataset."""
    return {
        "id": dataset.id,
        "slug": dataset.slug,
        "name": dataset.name,
        "name_en": dataset.name_en,
        "description": dataset.description,
        "visibility": dataset.visibility,
        "title_field": dataset.title_field,
        "fields": [
            f.model_dump(mode="json") for f in parse_fields(dataset.fields) if not f.restricted
        ],
        "owner_org": dataset.owner_org,
        "version": dataset.version,
        "created_at": dataset.created_at.isoformat(),
        "updated_at": dataset.updated_at.isoformat(),
    }


def record_content(values: dict[str, Any], view: DatasetView, owner_org: str) -> dict[str, Any]:
    """The part of a record's document that depends on its values and its dataset.

    Restricted fields (contact details) are left out: they never reach the index.
    """
    public = [f for f in view.fields if not f.restricted]
    refs: dict[str, list[str]] = {}
    for field, _index, ref_id in references(values, public):
        assert field.library is not None
        ids = refs.setdefault(field.library, [])
        if ref_id not in ids:
            ids.append(ref_id)
    return {
        "dataset": view.slug,
        "dataset_id": view.id,
        "title": view.title(values),
        "values": {f.name: values[f.name] for f in public if f.name in values},
        "labels": labels(values, public),
        "refs": refs,
        "owner_org": owner_org,
        "visibility": view.visibility,
    }


def record_document(
    record: StoredRecord, values: dict[str, Any], view: DatasetView
) -> dict[str, Any]:
    """What the search index needs: slug, typed values, labels, referenced IDs, visibility."""
    return {
        "id": record.id,
        **record_content(values, view, record.owner_org),
        "version": record.version,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }
