"""Outcomes service endpoints on SQLite and PostgreSQL: ok, not found, not allowed, stale, bad."""

from __future__ import annotations

from typing import Any

import httpx

from services.vocabularies.disciplines import disciplines
from tests.actors import ADMIN
from tests.actors import ANONYMOUS
from tests.actors import BAD_TOKEN
from tests.actors import EDITOR_CAST
from tests.actors import EDITOR_OTHER
from tests.actors import NO_TOKEN
from tests.actors import READER
from tests.actors import SERVICE
from tests.helpers import assert_problem
from tests.helpers import changes_after
from tests.helpers import feed_head
from tests.helpers import list_all
from tests.outcomes.conftest import KNOWN_EXPERTS
from tests.outcomes.helpers import create
from tests.outcomes.helpers import csl_papers
from tests.outcomes.helpers import paper_body
from tests.outcomes.helpers import read

# A real DOI (the CSL paper's own, COLING 2022) in the forms people paste it.
CSL_DOI = "10.48550/arXiv.2209.05034"


async def _institution(institutions: httpx.AsyncClient, name: str) -> str:
    response = await institutions.post(
        "/institutions", json={"name": name, "type": "university"}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# --- create -------------------------------------------------------------------------------


async def test_create_returns_normalised_record_with_labels_and_etag(
    client: httpx.AsyncClient, institutions: httpx.AsyncClient
) -> None:
    paper = csl_papers()[0]
    institution_id = await _institution(institutions, "北京航空航天大学")
    response = await client.post(
        "/outcomes",
        headers=EDITOR_CAST,
        json={
            "title": f" {paper['title']} ",
            "abstract": paper["abstract"],
            "keywords": paper["keywords"],
            "type": "paper",
            "authors": [
                {"name": "李明", "affiliation": "北京航空航天大学"},
                {"expert_id": KNOWN_EXPERTS[0], "name": "王芳"},
                {"expert_id": KNOWN_EXPERTS[1]},
            ],
            "institution_ids": [institution_id, institution_id],
            "published_on": "２０２１年５月",  # full-width digits, as pasted from a document
            "disciplines": ["f0201", "理论计算机科学"],  # a code in lower case and a name
            "language": "zh-CN",
            "visibility": "partner",
            "doi": f"https://doi.org/{CSL_DOI}",
            "url": "www.example.org/papers/1",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("out_") and len(body["id"]) == 24
    assert body["title"] == paper["title"] and body["keywords"] == paper["keywords"]
    assert body["type_label"] == "论文" and body["visibility_label"] == "合作单位"
    assert [(a["order"], a["name"], a["expert_id"]) for a in body["authors"]] == [
        (1, "李明", None),
        (2, "王芳", KNOWN_EXPERTS[0]),
        (3, None, KNOWN_EXPERTS[1]),
    ]
    assert body["institution_ids"] == [institution_id]
    assert body["published_on"] == "2021-05" and body["published_precision"] == "month"
    assert body["published_year"] == 2021
    assert body["disciplines"] == ["F0201", "F020101"] and body["language"] == "zh"
    assert body["doi"] == CSL_DOI.lower() and body["url"] == "https://www.example.org/papers/1"
    assert body["full_text"] is None and body["full_text_length"] is None
    assert body["owner_org"] == "cast" and body["version"] == 1
    assert response.headers["etag"] == '"v1"'
    assert response.headers["location"] == f"/outcomes/{body['id']}"


async def test_every_type_has_its_chinese_label(client: httpx.AsyncClient) -> None:
    labels = {
        "research_report": "研究报告",
        "policy_brief": "政策建议",
        "internal_reference": "内参",
        "special_report": "专报",
        "express_report": "快报",
        "paper": "论文",
        "book": "专著",
        "standard": "标准",
        "other": "其他",
    }
    for type_, label in labels.items():
        record = await create(client, type=type_, series="《科技工作者建议》")
        assert (record["type"], record["type_label"]) == (type_, label)


async def test_authors_order_defaults_to_position_and_is_returned_sorted(
    client: httpx.AsyncClient,
) -> None:
    record = await create(
        client,
        authors=[{"name": "丙", "order": 3}, {"name": "甲"}, {"name": "乙", "order": 2}],
    )
    assert [(a["order"], a["name"]) for a in record["authors"]] == [(1, "甲"), (2, "乙"), (3, "丙")]


async def test_published_on_keeps_its_precision(client: httpx.AsyncClient) -> None:
    cases = {
        "2021": ("2021", "year"),
        "2021-05": ("2021-05", "month"),
        "2021-05-12": ("2021-05-12", "day"),
        "2021年5月12日": ("2021-05-12", "day"),
        "1954": ("1954", "year"),
    }
    for given, (shown, precision) in cases.items():
        record = await create(client, published_on=given)
        assert (record["published_on"], record["published_precision"]) == (shown, precision)
        assert record["published_year"] == int(shown[:4])


async def test_visibility_defaults_to_internal(client: httpx.AsyncClient) -> None:
    body = paper_body()
    del body["visibility"]
    response = await client.post("/outcomes", json=body, headers=EDITOR_CAST)
    assert response.status_code == 201
    assert response.json()["visibility"] == "internal"


async def test_create_needs_internal_token(client: httpx.AsyncClient) -> None:
    head = await feed_head(client)
    for headers in (NO_TOKEN, BAD_TOKEN):
        assert_problem(await client.post("/outcomes", json=paper_body(), headers=headers), 401)
    assert await feed_head(client) == head


async def test_create_not_allowed_for_readers_anonymous_or_foreign_owner(
    client: httpx.AsyncClient,
) -> None:
    head = await feed_head(client)
    for headers in (READER, ANONYMOUS, SERVICE):
        assert_problem(await client.post("/outcomes", json=paper_body(), headers=headers), 403)
    response = await client.post(
        "/outcomes", json=paper_body(owner_org="csae"), headers=EDITOR_CAST
    )
    assert_problem(response, 403)
    assert await feed_head(client) == head
    record = await create(client, ADMIN, owner_org="csae")
    assert record["owner_org"] == "csae"


async def test_create_rejects_bad_input_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    head = await feed_head(client)
    bad: dict[str, dict[str, Any]] = {
        "title": {"title": "   "},
        "type": {"type": "blog_post"},
        "visibility": {"visibility": "secret"},
        "doi": {"doi": "11.1234/abc"},
        "published_on": {"published_on": "2021-13"},
        "language": {"language": "xx"},
        "disciplines.0": {"disciplines": ["Z99"]},
        "authors.0": {"authors": [{"affiliation": "无名"}]},
        "authors.0.expert_id": {"authors": [{"expert_id": "ins_00000000000000000000"}]},
        "authors.0.order": {"authors": [{"name": "甲", "order": 0}]},
        "institution_ids.0": {"institution_ids": ["exp_00000000000000000000"]},
        "keywords": {"keywords": "not a list"},
        "full_text": {"full_text": " \n\t "},
        "abstract": {"abstract": "text\u202eevil"},
        "colour": {"colour": "red"},
    }
    for field, fields in bad.items():
        response = await client.post("/outcomes", json=paper_body(**fields), headers=ADMIN)
        assert_problem(response, 422, field)
    future = await client.post("/outcomes", json=paper_body(published_on="2999"), headers=ADMIN)
    assert "2999" in assert_problem(future, 422, "published_on")["detail"]
    repeated = await client.post(
        "/outcomes",
        json=paper_body(authors=[{"name": "甲", "order": 1}, {"name": "乙", "order": 1}]),
        headers=ADMIN,
    )
    assert "order" in assert_problem(repeated, 422, "authors")["detail"]
    unpaired = await client.post("/outcomes", json=paper_body(source="csl"), headers=ADMIN)
    assert "external_id" in assert_problem(unpaired, 422)["detail"]
    assert await feed_head(client) == head


async def test_malformed_json_is_400_and_non_object_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/outcomes",
        content='{"title": "科技'.encode(),
        headers={**ADMIN, "content-type": "application/json"},
    )
    assert assert_problem(response, 400)["type"] == "/problems/malformed-json"
    response = await client.post(
        "/outcomes", content=b"[1]", headers={**ADMIN, "content-type": "application/json"}
    )
    assert_problem(response, 422)


async def test_duplicate_doi_is_409_naming_the_field(client: httpx.AsyncClient) -> None:
    first = await create(client, doi="10.1000/dup-test-1")
    response = await client.post(
        "/outcomes", json=paper_body(doi="https://doi.org/10.1000/DUP-TEST-1"), headers=ADMIN
    )
    body = assert_problem(response, 409, "doi")
    assert first["id"] in body["detail"]


# --- read ---------------------------------------------------------------------------------


async def test_read_by_id_and_by_doi_in_any_form(client: httpx.AsyncClient) -> None:
    record = await create(client, doi="10.1000/read-test-7")
    by_id = await read(client, record["id"])
    assert by_id.status_code == 200 and by_id.headers["etag"] == '"v1"'
    assert by_id.json() == record
    for ref in (
        "doi:10.1000/read-test-7",
        "doi:10.1000/READ-TEST-7",
        "doi:https://doi.org/10.1000/read-test-7",
        "doi:%EF%BC%91%EF%BC%90.1000/read-test-7",  # full-width "１０"
    ):
        response = await read(client, ref)
        assert response.status_code == 200, (ref, response.text)
        assert response.json()["id"] == record["id"]


async def test_read_unknown_is_404_and_bad_reference_is_400(client: httpx.AsyncClient) -> None:
    assert_problem(await read(client, "out_zzzzzzzzzzzzzzzzzzzz"), 404)
    assert_problem(await read(client, "doi:10.1000/never-stored"), 404)
    assert_problem(await read(client, "doi:11.1000/abc"), 400)
    assert_problem(await read(client, "isbn:9787030000000"), 400)


async def test_read_needs_internal_token(client: httpx.AsyncClient) -> None:
    record = await create(client)
    assert_problem(await client.get(f"/outcomes/{record['id']}", headers=NO_TOKEN), 401)


async def test_list_pages_by_cursor_and_fetches_by_ids(client: httpx.AsyncClient) -> None:
    made = [await create(client) for _ in range(5)]
    listed = await list_all(client, "/outcomes", page_size=3)
    assert all("full_text" not in r for r in listed)
    seen = [r["id"] for r in listed]
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert {m["id"] for m in made} <= set(seen)
    wanted = [made[3]["id"], made[0]["id"], "out_zzzzzzzzzzzzzzzzzzzz"]
    by_ids = await client.get("/outcomes", params={"ids": ",".join(wanted)}, headers=SERVICE)
    assert [r["id"] for r in by_ids.json()["results"]] == sorted(wanted[:2])
    assert_problem(await client.get("/outcomes", params={"cursor": "x!"}, headers=SERVICE), 400)
    too_many = ",".join(f"out_{i:020d}" for i in range(101))
    assert_problem(await client.get("/outcomes", params={"ids": too_many}, headers=SERVICE), 400)
    assert_problem(await client.get("/outcomes", headers=NO_TOKEN), 401)


# --- patch --------------------------------------------------------------------------------


async def test_patch_applies_merge_patch_and_bumps_version(client: httpx.AsyncClient) -> None:
    paper = csl_papers()[7]
    record = await create(client, EDITOR_CAST, series="《科技工作者建议》", published_on="2020")
    response = await client.patch(
        f"/outcomes/{record['id']}",
        json={"series": None, "keywords": paper["keywords"], "published_on": "2021年5月"},
        headers={**EDITOR_CAST, "If-Match": '"v1"', "content-type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["series"] is None and body["keywords"] == paper["keywords"]
    assert body["published_on"] == "2021-05" and body["published_precision"] == "month"
    assert body["title"] == record["title"]  # untouched fields stay
    assert body["version"] == 2 and response.headers["etag"] == '"v2"'
    head = await feed_head(client)
    same = await client.patch(
        f"/outcomes/{record['id']}",
        json={"keywords": paper["keywords"]},
        headers={**EDITOR_CAST, "If-Match": '"v2"'},
    )
    assert same.status_code == 200 and same.json()["version"] == 2
    assert await feed_head(client) == head  # a patch that changes nothing writes nothing


async def test_patch_by_doi(client: httpx.AsyncClient) -> None:
    record = await create(client, doi="10.1000/patch-by-doi")
    response = await client.patch(
        "/outcomes/doi:10.1000/patch-by-doi",
        json={"visibility": "partner"},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert response.status_code == 200 and response.json()["id"] == record["id"]
    assert response.json()["visibility_label"] == "合作单位"


async def test_patch_stale_etag_is_412_and_nothing_written(client: httpx.AsyncClient) -> None:
    record = await create(client)
    ok = await client.patch(
        f"/outcomes/{record['id']}", json={"series": "快报"}, headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert ok.status_code == 200
    head = await feed_head(client)
    stale = await client.patch(
        f"/outcomes/{record['id']}", json={"series": "专报"}, headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert_problem(stale, 412)
    assert stale.headers["etag"] == '"v2"'
    stored = (await read(client, record["id"])).json()
    assert stored["series"] == "快报" and stored["version"] == 2
    assert await feed_head(client) == head


async def test_patch_without_if_match_is_428(client: httpx.AsyncClient) -> None:
    record = await create(client)
    response = await client.patch(f"/outcomes/{record['id']}", json={"series": "x"}, headers=ADMIN)
    assert_problem(response, 428, "If-Match")


async def test_patch_not_allowed_for_other_org_reader_or_hand_over(
    client: httpx.AsyncClient,
) -> None:
    record = await create(client, EDITOR_CAST, visibility="public")
    for headers in (EDITOR_OTHER, READER):
        response = await client.patch(
            f"/outcomes/{record['id']}",
            json={"series": "x"},
            headers={**headers, "If-Match": '"v1"'},
        )
        assert_problem(response, 403)
    handover = await client.patch(
        f"/outcomes/{record['id']}",
        json={"owner_org": "csae"},
        headers={**EDITOR_CAST, "If-Match": '"v1"'},
    )
    assert_problem(handover, 403)
    assert (await read(client, record["id"])).json()["version"] == 1
    by_admin = await client.patch(
        f"/outcomes/{record['id']}",
        json={"owner_org": "csae"},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert by_admin.status_code == 200 and by_admin.json()["owner_org"] == "csae"


async def test_patch_bad_input_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    record = await create(client)
    head = await feed_head(client)
    cases = (
        ({"colour": "red"}, "colour"),
        ({"version": 9}, "version"),
        ({"type_label": "x"}, "type_label"),
        ({"title": None}, "title"),
        ({"doi": "doi:10.12/x"}, "doi"),
        ({"authors": [{"name": "甲"}, {"expert_id": "exp_bad"}]}, "authors.1.expert_id"),
        ({"published_on": "2021-02-30"}, "published_on"),
    )
    for body, field in cases:
        response = await client.patch(
            f"/outcomes/{record['id']}", json=body, headers={**ADMIN, "If-Match": '"v1"'}
        )
        assert_problem(response, 422, field)
    not_object = await client.patch(
        f"/outcomes/{record['id']}", json=["x"], headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert_problem(not_object, 422)
    assert await feed_head(client) == head


async def test_patch_unknown_record_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch(
        "/outcomes/out_zzzzzzzzzzzzzzzzzzzz",
        json={"series": "x"},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert_problem(response, 404)


# --- delete -------------------------------------------------------------------------------


async def test_delete_leaves_tombstone_and_410(client: httpx.AsyncClient) -> None:
    record = await create(client, EDITOR_CAST, doi="10.1000/deleted-1")
    head = await feed_head(client)
    url = f"/outcomes/{record['id']}"
    assert_problem(await client.delete(url, headers={**EDITOR_OTHER, "If-Match": '"v1"'}), 403)
    assert_problem(await client.delete(url, headers={**READER, "If-Match": '"v1"'}), 403)
    assert_problem(await client.delete(url, headers=EDITOR_CAST), 428)
    assert_problem(await client.delete(url, headers={**EDITOR_CAST, "If-Match": '"v7"'}), 412)
    assert await feed_head(client) == head
    response = await client.delete(url, headers={**EDITOR_CAST, "If-Match": '"v1"'})
    assert response.status_code == 204
    assert_problem(await read(client, record["id"]), 410)
    assert_problem(await read(client, "doi:10.1000/deleted-1"), 404)
    feed = await changes_after(client, head)
    assert [(c["record_id"], c["op"], c["version"], c["document"]) for c in feed] == [
        (record["id"], "delete", 2, None)
    ]
    assert_problem(await client.delete(url, headers={**ADMIN, "If-Match": '"v2"'}), 410)
    # the DOI of a deleted outcome may be used again
    again = await create(client, doi="10.1000/deleted-1")
    assert (await read(client, "doi:10.1000/deleted-1")).json()["id"] == again["id"]


async def test_delete_unknown_is_404(client: httpx.AsyncClient) -> None:
    response = await client.delete(
        "/outcomes/out_zzzzzzzzzzzzzzzzzzzz", headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert_problem(response, 404)
    assert_problem(await client.delete("/outcomes/out_zzzzzzzzzzzzzzzzzzzz", headers=NO_TOKEN), 401)


# --- upsert -------------------------------------------------------------------------------


async def test_upsert_creates_then_is_unchanged_then_updates(client: httpx.AsyncClient) -> None:
    paper = csl_papers()[11]
    url = f"/outcomes/sources/csl-benchmark/{paper['id']}"
    body = paper_body(11, published_on="2019")
    first = await client.put(url, json=body, headers=EDITOR_CAST)
    assert first.status_code == 201 and first.headers["zhihui-upsert"] == "created"
    assert first.headers["location"] == f"/outcomes/{first.json()['id']}"
    head = await feed_head(client)
    again = await client.put(url, json=body, headers=EDITOR_CAST)
    assert again.status_code == 200 and again.headers["zhihui-upsert"] == "unchanged"
    assert again.json()["version"] == 1 and again.json()["id"] == first.json()["id"]
    assert await feed_head(client) == head
    changed = await client.put(url, json={**body, "series": "中文核心期刊"}, headers=EDITOR_CAST)
    assert changed.headers["zhihui-upsert"] == "updated" and changed.json()["version"] == 2
    assert changed.json()["source"] == "csl-benchmark"
    assert changed.json()["external_id"] == paper["id"]
    assert changed.json()["owner_org"] == "cast"


async def test_upsert_not_allowed_bad_input_and_no_token(client: httpx.AsyncClient) -> None:
    url = "/outcomes/sources/society-x/2023-001"
    created = await client.put(url, json=paper_body(visibility="public"), headers=EDITOR_CAST)
    assert created.status_code == 201
    head = await feed_head(client)
    assert_problem(await client.put(url, json=paper_body(), headers=READER), 403)
    assert_problem(await client.put(url, json=paper_body(), headers=NO_TOKEN), 401)
    bad = await client.put(url, json=paper_body(type="novel"), headers=EDITOR_CAST)
    assert_problem(bad, 422, "type")
    assert await feed_head(client) == head


async def test_upsert_of_a_key_another_organisation_holds_hidden_reveals_nothing(
    client: httpx.AsyncClient,
) -> None:
    url = "/outcomes/sources/neican-archive/2023-17"
    hidden = await client.put(
        url, json=paper_body(type="internal_reference", visibility="internal"), headers=EDITOR_CAST
    )
    assert hidden.status_code == 201
    # Another organisation's key space: its own new record, exactly as for a free key.
    mine = await client.put(url, json=paper_body(), headers=EDITOR_OTHER)
    free = await client.put(
        "/outcomes/sources/neican-archive/never-used", json=paper_body(), headers=EDITOR_OTHER
    )
    assert mine.status_code == free.status_code == 201
    assert mine.json()["id"] != hidden.json()["id"] and mine.json()["owner_org"] == "csae"
    stored = await client.get(f"/outcomes/{hidden.json()['id']}", headers=ADMIN)
    assert stored.json()["version"] == 1 and stored.json()["title"] == hidden.json()["title"]


# --- change feed --------------------------------------------------------------------------


async def test_change_feed_document_carries_what_the_index_needs(
    client: httpx.AsyncClient, institutions: httpx.AsyncClient
) -> None:
    institution_id = await _institution(institutions, "中国科学技术协会创新战略研究院")
    head = await feed_head(client)
    record = await create(
        client,
        EDITOR_CAST,
        type="policy_brief",
        visibility="partner",
        authors=[{"name": "李明"}, {"expert_id": KNOWN_EXPERTS[2], "name": "赵强"}],
        institution_ids=[institution_id],
        disciplines=["F020101", "E0901"],
        published_on="2022-03",
    )
    await client.patch(
        f"/outcomes/{record['id']}",
        json={"keywords": ["科技政策"]},
        headers={**EDITOR_CAST, "If-Match": '"v1"'},
    )
    page = await changes_after(client, head)
    assert [(c["op"], c["version"], c["record_id"]) for c in page] == [
        ("upsert", 1, record["id"]),
        ("upsert", 2, record["id"]),
    ]
    document = page[1]["document"]
    assert document["author_expert_ids"] == [KNOWN_EXPERTS[2]]
    assert document["author_names"] == ["李明", "赵强"]
    assert document["institution_ids"] == [institution_id]
    vocabulary = disciplines()
    expected_codes = list(
        dict.fromkeys(vocabulary.ancestors("F020101") + vocabulary.ancestors("E0901"))
    )
    assert document["discipline_codes"] == expected_codes
    assert {"F02", "F0201", "E09"} <= set(document["discipline_codes"])
    assert document["discipline_labels"] == [vocabulary.label(c) for c in expected_codes]
    assert document["visibility"] == "partner" and document["owner_org"] == "cast"
    assert document["published_year"] == 2022 and document["published_on"] == "2022-03-01"
    assert document["keywords"] == ["科技政策"] and document["type_label"] == "政策建议"
    assert "full_text" not in document


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
