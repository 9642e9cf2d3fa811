"""Filter fields that declare their document key are read by the schema, not by each builder."""

from __future__ import annotations

from datetime import date

from services.gateway.indexer.documents import dataset_record_document
from services.gateway.search.analysis import Analyzer
from services.gateway.search.fields import CREATED
from services.gateway.search.fields import OWNER
from services.gateway.search.fields import UPDATED
from services.gateway.search.fields import dataset_schema
from services.gateway.search.fields import read
from services.gateway.search.model import FieldKind
from services.gateway.search.model import FilterField
from services.gateway.search.model import LibrarySchema


def test_values_are_read_as_they_stand() -> None:
    document = {"tags": ["a", "b"], "type": "university", "starts_on": "2024-05-06T08:00:00Z"}
    assert read("tags", "标签").values_in(document) == ["a", "b"]
    assert read("type", "类型").values_in(document) == ["university"]
    assert read("city", "城市").values_in(document) == []
    assert read("starts_on", "开始", FieldKind.DATE).values_in(document) == [date(2024, 5, 6)]
    renamed = FilterField("organiser", "主办", source="institution_ids")
    assert renamed.values_in({"institution_ids": ["ins_1"]}) == ["ins_1"]


def test_a_document_has_its_declared_values_and_the_computed_ones() -> None:
    schema = LibrarySchema(
        name="things",
        label="物",
        fields={f.name: f for f in (read("kind", "类型"), FilterField("rank", "排序"), OWNER)},
        text_fields=(),
    )
    record = {"id": "thg_1", "version": 3, "kind": "x", "owner_org": "org-a", "rank": 9}
    document = schema.document(record, label="一物", values={"rank": [1]})
    assert (document.library, document.id, document.version) == ("things", "thg_1", 3)
    assert document.visibility == "internal" and document.owner_org == "org-a"
    # `rank` declares no source: only what the builder computed, never the raw key.
    assert document.values == {"kind": ["x"], "owner_org": ["org-a"], "rank": [1]}
    public = schema.document(record, label="一物", default_visibility="public")
    assert public.visibility == "public" and public.source is record


def test_a_special_database_record_reads_its_values_and_its_change_time() -> None:
    schema = dataset_schema(
        {
            "slug": "labs",
            "name": "实验室",
            "fields": [
                {"name": "level", "type": "keyword", "facetable": True},
                {"name": "opened", "type": "date", "sortable": True},
            ],
        }
    )
    source = {
        "id": "dsr_1",
        "version": 1,
        "dataset": "labs",
        "values": {"level": ["国家级"], "opened": "2020-01-02"},
        "updated_at": "2026-12-01T00:00:00Z",
        "created_at": "2026-11-01T00:00:00Z",
    }
    document = dataset_record_document(source, schema, Analyzer())
    assert document.library == "datasets/labs"
    assert document.values == {
        "level": ["国家级"],
        "opened": [date(2020, 1, 2)],
        UPDATED.name: [date(2026, 12, 1)],
    }
    assert CREATED.name not in document.values
