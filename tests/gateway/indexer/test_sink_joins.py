"""The sink's joins when feeds arrive out of step: an expert indexed before its institution."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path

from services.gateway.search.backends.embedded import EmbeddedBackend
from services.gateway.search.components import create_search
from services.kernel.changefeed import ChangeOut

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def change(seq: int, entity: str, document: dict) -> ChangeOut:
    return ChangeOut(
        seq=seq,
        entity=entity,
        record_id=document["id"],
        op="upsert",
        version=document["version"],
        document=document,
        occurred_at=NOW,
    )


INSTITUTION = {
    "id": "ins_00000000000000000001",
    "name": "中国科学技术大学",
    "aliases": [],
    "acronyms": ["USTC"],
    "type": "university",
    "type_label": "高校",
    "province": "安徽省",
    "status": "active",
    "tags": [],
    "owner_org": "cast",
    "visibility": "public",
    "version": 1,
    "created_at": NOW.isoformat(),
    "updated_at": NOW.isoformat(),
}
EXPERT = {
    "id": "exp_00000000000000000001",
    "name": "潘建伟",
    "affiliations": [{"institution_id": INSTITUTION["id"], "primary": True}],
    "institution_ids": [INSTITUTION["id"]],
    "primary_institution_id": INSTITUTION["id"],
    "research_areas": ["量子通信"],
    "owner_org": "cast",
    "visibility": "public",
    "version": 1,
    "created_at": NOW.isoformat(),
    "updated_at": NOW.isoformat(),
}


async def test_an_expert_indexed_before_its_institution_gets_its_name_when_it_arrives(
    tmp_path: Path,
) -> None:
    search = create_search(EmbeddedBackend(tmp_path / "search.sqlite"))
    try:
        await search.sink.apply("experts", [change(1, "expert", EXPERT)])
        early = await search.backend.sources("experts", [EXPERT["id"]])
        assert early[EXPERT["id"]]["institution_names"] == []

        await search.sink.apply("institutions", [change(1, "institution", INSTITUTION)])
        joined = (await search.backend.sources("experts", [EXPERT["id"]]))[EXPERT["id"]]
        assert joined["institution_names"] == ["中国科学技术大学"]
        assert joined["affiliations"][0]["institution_name"] == "中国科学技术大学"

        renamed = {**INSTITUTION, "name": "中国科学技术大学（合肥）", "version": 2}
        await search.sink.apply("institutions", [change(2, "institution", renamed)])
        again = (await search.backend.sources("experts", [EXPERT["id"]]))[EXPERT["id"]]
        assert again["institution_names"] == ["中国科学技术大学（合肥）"]
    finally:
        await search.close()
