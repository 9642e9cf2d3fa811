"""The change feed carries what the search index needs and never a restricted field."""

from __future__ import annotations

import json

import httpx

from services.vocabularies.disciplines import disciplines
from tests.actors import ADMIN
from tests.actors import NO_TOKEN
from tests.actors import SERVICE
from tests.experts.helpers import create
from tests.experts.helpers import create_institution
from tests.experts.helpers import unique_name
from tests.helpers import assert_problem
from tests.helpers import changes_after
from tests.helpers import feed_head

EMAIL = "secret.contact@example.edu.cn"
PHONE = "+86 (10) 8888-7777"
NEW_EMAIL = "another.secret@example.org.cn"


async def test_contact_details_never_appear_in_any_feed_document(
    client: httpx.AsyncClient, institutions: httpx.AsyncClient
) -> None:
    known = await create_institution(institutions)
    record = await create(
        client,
        email=EMAIL,
        phone=PHONE,
        affiliations=[{"institution_id": known}],
        disciplines=["F020509"],
    )
    assert record["email"] == EMAIL and record["phone"] == PHONE
    # a write that changes only a restricted field, an upsert carrying one, then a delete
    patched = await client.patch(
        f"/experts/{record['id']}", json={"email": NEW_EMAIL}, headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert patched.status_code == 200, patched.text
    upserted = await client.put(
        "/experts/sources/feed-test/1",
        json={"name": unique_name(), "email": EMAIL, "phone": PHONE},
        headers=ADMIN,
    )
    assert upserted.status_code == 201, upserted.text
    deleted = await client.delete(f"/experts/{record['id']}", headers={**ADMIN, "If-Match": '"v2"'})
    assert deleted.status_code == 204

    raw = await client.get("/internal/changes", params={"after": 0, "limit": 1000}, headers=SERVICE)
    changes = raw.json()["changes"]
    ours = {record["id"], upserted.json()["id"]}
    assert len([c for c in changes if c["record_id"] in ours]) == 4
    digits = "".join(ch for ch in PHONE if ch.isdigit())
    for change in changes:  # every document ever published by this service, not only ours
        serialized = json.dumps(change, ensure_ascii=False)
        for secret in (EMAIL, NEW_EMAIL, PHONE, digits, '"email"', '"phone"'):
            assert secret not in serialized, (secret, change["seq"])
    for secret in (EMAIL, NEW_EMAIL, PHONE):
        assert secret not in raw.text


async def test_feed_document_carries_what_search_needs(
    client: httpx.AsyncClient, institutions: httpx.AsyncClient
) -> None:
    first, second = await create_institution(institutions), await create_institution(institutions)
    head = await feed_head(client)
    record = await create(
        client,
        name="解放",
        title="研究员",
        honors=["中国工程院院士"],
        affiliations=[
            {"institution_id": first, "end_year": 2015},
            {"institution_id": second, "primary": True},
            {"institution_id": second, "department": "另一个学院"},
        ],
        disciplines=["F020509", "人工智能与知识工程"],
    )
    await client.patch(
        f"/experts/{record['id']}", json={"title": "教授"}, headers={**ADMIN, "If-Match": '"v1"'}
    )
    changes = await changes_after(client, head)
    assert [(c["record_id"], c["op"], c["version"]) for c in changes] == [
        (record["id"], "upsert", 1),
        (record["id"], "upsert", 2),
    ]
    document = changes[-1]["document"]
    assert document["id"] == record["id"] and document["title"] == "教授"
    assert document["name_pinyin"] == "xie fang" and document["name_initials"] == "xf"
    assert document["institution_ids"] == [first, second]
    assert document["primary_institution_id"] == second
    assert document["disciplines"] == ["F020509", "F0305"]
    vocabulary = disciplines()
    expected = [*vocabulary.ancestors("F020509"), *vocabulary.ancestors("F0305")]
    assert document["disciplines_with_ancestors"] == list(dict.fromkeys(expected))
    assert "F02" in document["disciplines_with_ancestors"]
    assert "F03" in document["disciplines_with_ancestors"]
    assert document["disciplines_labels"][1] == "人工智能与知识工程"
    assert document["visibility"] == "public" and document["version"] == 2
    assert document["honors"] == ["中国工程院院士"]


async def test_feed_needs_internal_token(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/internal/changes", headers=NO_TOKEN), 401)
    assert_problem(await client.get("/internal/changes", params={"limit": 0}, headers=SERVICE), 422)
