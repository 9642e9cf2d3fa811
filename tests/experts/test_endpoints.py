"""Experts service endpoints on SQLite and PostgreSQL: ok, not found, not allowed, stale, bad."""

from __future__ import annotations

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
from tests.experts.helpers import CARBERRY_ORCID
from tests.experts.helpers import X_ORCID
from tests.experts.helpers import create
from tests.experts.helpers import create_institution
from tests.experts.helpers import read
from tests.experts.helpers import unique_name
from tests.helpers import assert_problem
from tests.helpers import feed_head
from tests.helpers import list_all

UNKNOWN_INSTITUTION = "ins_zzzzzzzzzzzzzzzzzzzz"

# --- create -------------------------------------------------------------------------------


async def test_create_normalises_derives_pinyin_and_makes_first_affiliation_primary(
    client: httpx.AsyncClient, institutions: httpx.AsyncClient
) -> None:
    first, second = await create_institution(institutions), await create_institution(institutions)
    response = await client.post(
        "/experts",
        headers=EDITOR_CAST,
        json={
            "name": " 张三 ",
            "name_en": "Zhang San",
            "title": "研究员",
            "honors": ["中国科学院院士", "中国科学院院士"],
            "affiliations": [
                {"institution_id": first, "department": "计算机系", "start_year": 2001},
                {"institution_id": second, "position": "兼职教授", "start_year": 2010},
            ],
            "disciplines": ["f020509", "人工智能与知识工程", "F020509"],
            "research_areas": ["机器学习"],
            "orcid": f"https://orcid.org/{X_ORCID.lower()}",
            "homepage": "www.example.ac.cn/~zhangsan",
            "email": "Zhang.San@Example.AC.CN",
            "phone": "＋８６ 10  6275-1234",  # full-width digits, as pasted from a document
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("exp_") and len(body["id"]) == 24
    assert body["name"] == "张三"
    assert body["name_pinyin"] == "zhang san" and body["name_initials"] == "zs"
    assert body["honors"] == ["中国科学院院士"]
    assert [a["primary"] for a in body["affiliations"]] == [True, False]
    assert [a["institution_id"] for a in body["affiliations"]] == [first, second]
    assert body["disciplines"] == ["F020509", "F0305"]
    vocabulary = disciplines()
    assert body["disciplines_labels"] == [vocabulary.label("F020509"), "人工智能与知识工程"]
    assert body["orcid"] == X_ORCID
    assert body["homepage"] == "https://www.example.ac.cn/~zhangsan"
    assert body["email"] == "Zhang.San@example.ac.cn"
    assert body["phone"] == "+86 10 6275-1234"
    assert body["owner_org"] == "cast" and body["version"] == 1
    assert response.headers["etag"] == '"v1"'
    assert response.headers["location"] == f"/experts/{body['id']}"


async def test_an_explicit_primary_is_kept(
    client: httpx.AsyncClient, institutions: httpx.AsyncClient
) -> None:
    first, second = await create_institution(institutions), await create_institution(institutions)
    record = await create(
        client,
        affiliations=[{"institution_id": first}, {"institution_id": second, "primary": True}],
    )
    assert [a["primary"] for a in record["affiliations"]] == [False, True]


async def test_create_needs_internal_token(client: httpx.AsyncClient) -> None:
    for headers in (NO_TOKEN, BAD_TOKEN):
        response = await client.post("/experts", json={"name": unique_name()}, headers=headers)
        assert_problem(response, 401)


async def test_create_not_allowed_for_readers_anonymous_or_foreign_owner(
    client: httpx.AsyncClient,
) -> None:
    head = await feed_head(client)
    for headers in (READER, ANONYMOUS, SERVICE):
        response = await client.post("/experts", json={"name": unique_name()}, headers=headers)
        assert_problem(response, 403)
    response = await client.post(
        "/experts", json={"name": unique_name(), "owner_org": "csae"}, headers=EDITOR_CAST
    )
    assert_problem(response, 403)
    assert await feed_head(client) == head
    # an admin may create on behalf of any organisation
    assert (await create(client, ADMIN, owner_org="csae"))["owner_org"] == "csae"


async def test_create_rejects_bad_input_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient, institutions: httpx.AsyncClient
) -> None:
    known = await create_institution(institutions)
    head = await feed_head(client)
    secret_email = "not-an-address-zhangsan.example.cn"
    bad_bodies = {
        "name": {"name": "   "},
        "orcid": {"orcid": CARBERRY_ORCID[:-1] + "8"},
        "disciplines.0": {"disciplines": ["Z9999"]},
        "email": {"email": secret_email},
        "phone": {"phone": "call 010-6275"},
        "affiliations.0.institution_id": {"affiliations": [{"institution_id": "清华大学"}]},
        "affiliations.0.end_year": {
            "affiliations": [{"institution_id": known, "start_year": 2020, "end_year": 2019}]
        },
        "affiliations.0.start_year": {
            "affiliations": [{"institution_id": known, "start_year": 1066}]
        },
        "affiliations.0.colour": {"affiliations": [{"institution_id": known, "colour": "red"}]},
        "homepage": {"homepage": "ftp://example.org"},
        "honors": {"honors": "中国科学院院士"},
        "name_pinyin": {"name_pinyin": "zhang san"},
        "bio": {"bio": "text\u202eevil"},
    }
    for field, extra in bad_bodies.items():
        response = await client.post(
            "/experts", json={"name": unique_name(), **extra}, headers=ADMIN
        )
        assert_problem(response, 422, field)
        assert secret_email not in response.text  # restricted input is never echoed
    too_few_digits = {"name": unique_name(), "phone": "123-45"}
    body = assert_problem(await client.post("/experts", json=too_few_digits, headers=ADMIN), 422)
    assert "6 to 20 digits" in body["detail"] and "phone" in body["detail"]
    two_primaries = {
        "name": unique_name(),
        "affiliations": [
            {"institution_id": known, "primary": True},
            {"institution_id": known, "primary": True, "department": "另一个系"},
        ],
    }
    body = assert_problem(await client.post("/experts", json=two_primaries, headers=ADMIN), 422)
    assert "at most one affiliation may be primary" in body["detail"]
    half_key = {"name": unique_name(), "source": "import-x"}
    body = assert_problem(await client.post("/experts", json=half_key, headers=ADMIN), 422)
    assert "external_id" in body["detail"]
    assert await feed_head(client) == head


async def test_unknown_or_deleted_institution_is_422_naming_the_affiliation(
    client: httpx.AsyncClient, institutions: httpx.AsyncClient
) -> None:
    known = await create_institution(institutions)
    gone = await create_institution(institutions)
    deleted = await institutions.delete(
        f"/institutions/{gone}", headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert deleted.status_code == 204
    head = await feed_head(client)
    response = await client.post(
        "/experts",
        json={
            "name": unique_name(),
            "affiliations": [
                {"institution_id": known},
                {"institution_id": UNKNOWN_INSTITUTION},
                {"institution_id": gone},
            ],
        },
        headers=ADMIN,
    )
    body = assert_problem(response, 422, "affiliations.1.institution_id")
    locs = [".".join(map(str, e["loc"])) for e in body["errors"]]
    assert locs == ["body.affiliations.1.institution_id", "body.affiliations.2.institution_id"]
    assert await feed_head(client) == head


async def test_institutions_service_down_is_503_and_writes_nothing(
    client: httpx.AsyncClient, down_client: httpx.AsyncClient, institutions: httpx.AsyncClient
) -> None:
    known = await create_institution(institutions)
    head = await feed_head(client)
    name = unique_name("仇")
    response = await down_client.post(
        "/experts",
        json={"name": name, "affiliations": [{"institution_id": known}]},
        headers=ADMIN,
    )
    body = assert_problem(response, 503)
    assert response.headers["retry-after"].isdigit()
    assert "institutions" in body["detail"]
    assert await feed_head(client) == head
    listed = (await client.get("/experts", params={"page_size": 100}, headers=SERVICE)).json()
    assert name not in {r["name"] for r in listed["results"]}
    # an expert without affiliations needs no other service
    alone = await down_client.post("/experts", json={"name": unique_name()}, headers=ADMIN)
    assert alone.status_code == 201, alone.text


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/experts",
        content=b'{"name": "\xe5\xbc\xa0\xe4\xb8\x89", ',
        headers={**ADMIN, "content-type": "application/json"},
    )
    body = assert_problem(response, 400)
    assert body["type"] == "/problems/malformed-json"


async def test_duplicate_orcid_is_409_naming_the_field(client: httpx.AsyncClient) -> None:
    orcid = "0000-0002-9079-593X"
    first = await create(client, orcid=orcid)
    response = await client.post(
        "/experts", json={"name": unique_name(), "orcid": orcid.lower()}, headers=ADMIN
    )
    body = assert_problem(response, 409, "orcid")
    assert first["id"] in body["detail"]


# --- read ---------------------------------------------------------------------------------


async def test_read_by_id_and_by_orcid(client: httpx.AsyncClient) -> None:
    created = await create(client, name="王五", orcid=f"orcid.org/{CARBERRY_ORCID}")
    response = await read(client, f"orcid:{CARBERRY_ORCID}")
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["id"] == created["id"] and record["orcid"] == CARBERRY_ORCID
    assert response.headers["etag"] == f'"v{record["version"]}"'
    compact = await read(client, "orcid:" + CARBERRY_ORCID.replace("-", ""))
    by_id = await read(client, record["id"])
    assert compact.json()["id"] == by_id.json()["id"] == record["id"]


async def test_read_unknown_is_404_and_bad_reference_is_400(client: httpx.AsyncClient) -> None:
    assert_problem(await read(client, "exp_zzzzzzzzzzzzzzzzzzzz"), 404)
    assert_problem(await read(client, "orcid:0000-0001-8135-3489"), 404)  # valid, unknown
    body = assert_problem(await read(client, "orcid:0000-0002-1825-0098"), 400)
    assert "check character" in body["detail"]
    assert_problem(await read(client, "isni:0000000121581234"), 400)


async def test_read_needs_internal_token(client: httpx.AsyncClient) -> None:
    record = await create(client)
    assert_problem(await client.get(f"/experts/{record['id']}", headers=NO_TOKEN), 401)
    assert_problem(await client.get("/experts", headers=BAD_TOKEN), 401)


async def test_anonymous_read_omits_contact_details_reader_sees_them(
    client: httpx.AsyncClient,
) -> None:
    record = await create(client, email="li.si@example.edu.cn", phone="010-62751234")
    anonymous = (await read(client, record["id"], ANONYMOUS)).json()
    assert "email" not in anonymous and "phone" not in anonymous
    assert "li.si@example.edu.cn" not in str(anonymous)
    assert anonymous["name"] == record["name"] and anonymous["orcid"] is None
    for headers in (READER, EDITOR_OTHER, ADMIN, SERVICE):
        shown = (await read(client, record["id"], headers)).json()
        assert shown["email"] == "li.si@example.edu.cn" and shown["phone"] == "010-62751234"
    listed = (await client.get("/experts", params={"ids": record["id"]}, headers=ANONYMOUS)).json()[
        "results"
    ]
    assert len(listed) == 1 and "email" not in listed[0] and "phone" not in listed[0]
    # an expert without contact details shows them as null to readers, not absent
    bare = await create(client)
    shown = (await read(client, bare["id"], READER)).json()
    assert shown["email"] is None and shown["phone"] is None


async def test_list_pages_by_cursor_and_fetches_by_ids(client: httpx.AsyncClient) -> None:
    made = [await create(client) for _ in range(5)]
    seen = [r["id"] for r in await list_all(client, "/experts", page_size=3)]
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert {m["id"] for m in made} <= set(seen)
    ids = ",".join(m["id"] for m in made[:2])
    by_ids = (await client.get("/experts", params={"ids": ids}, headers=SERVICE)).json()
    assert [r["id"] for r in by_ids["results"]] == sorted(m["id"] for m in made[:2])
    assert_problem(await client.get("/experts", params={"cursor": "x!"}, headers=SERVICE), 400)
    too_many = ",".join(["exp_zzzzzzzzzzzzzzzzzzzz"] * 101)
    assert_problem(await client.get("/experts", params={"ids": too_many}, headers=SERVICE), 400)


# --- patch --------------------------------------------------------------------------------


async def test_patch_applies_merge_patch_rederives_pinyin_and_bumps_version(
    client: httpx.AsyncClient, institutions: httpx.AsyncClient
) -> None:
    first, second = await create_institution(institutions), await create_institution(institutions)
    record = await create(
        client,
        EDITOR_CAST,
        name="张三丰",
        phone="13800138000",
        affiliations=[{"institution_id": first}],
    )
    response = await client.patch(
        f"/experts/{record['id']}",
        json={
            "name": "曾三丰",
            "phone": None,
            "title": "教授",
            "affiliations": [
                {"institution_id": first, "end_year": 2020},
                {"institution_id": second, "primary": True, "start_year": 2020},
            ],
        },
        headers={**EDITOR_CAST, "If-Match": '"v1"', "content-type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name_pinyin"] == "zeng san feng" and body["name_initials"] == "zsf"
    assert body["phone"] is None and body["title"] == "教授"
    assert [(a["institution_id"], a["primary"]) for a in body["affiliations"]] == [
        (first, False),
        (second, True),
    ]
    assert body["version"] == 2 and response.headers["etag"] == '"v2"'
    # a patch that changes nothing writes nothing
    head = await feed_head(client)
    same = await client.patch(
        f"/experts/{record['id']}",
        json={"title": "教授"},
        headers={**EDITOR_CAST, "If-Match": '"v2"'},
    )
    assert same.status_code == 200 and same.json()["version"] == 2
    assert await feed_head(client) == head


async def test_patch_stale_etag_is_412_and_nothing_written(client: httpx.AsyncClient) -> None:
    record = await create(client)
    ok = await client.patch(
        f"/experts/{record['id']}", json={"title": "研究员"}, headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert ok.status_code == 200
    head = await feed_head(client)
    stale = await client.patch(
        f"/experts/{record['id']}", json={"title": "教授"}, headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert_problem(stale, 412)
    assert stale.headers["etag"] == '"v2"'
    stored = (await read(client, record["id"])).json()
    assert stored["title"] == "研究员" and stored["version"] == 2
    assert await feed_head(client) == head


async def test_patch_without_if_match_is_428(client: httpx.AsyncClient) -> None:
    record = await create(client)
    response = await client.patch(f"/experts/{record['id']}", json={"title": "x"}, headers=ADMIN)
    assert_problem(response, 428, "If-Match")


async def test_patch_not_allowed_for_other_org_reader_or_without_token(
    client: httpx.AsyncClient,
) -> None:
    record = await create(client, EDITOR_CAST)
    for headers in (EDITOR_OTHER, READER, ANONYMOUS):
        response = await client.patch(
            f"/experts/{record['id']}", json={"title": "x"}, headers={**headers, "If-Match": '"v1"'}
        )
        assert_problem(response, 403)
    assert_problem(
        await client.patch(
            f"/experts/{record['id']}",
            json={"title": "x"},
            headers={**NO_TOKEN, "If-Match": '"v1"'},
        ),
        401,
    )
    handover = await client.patch(
        f"/experts/{record['id']}",
        json={"owner_org": "csae"},
        headers={**EDITOR_CAST, "If-Match": '"v1"'},
    )
    assert_problem(handover, 403)
    assert (await read(client, record["id"])).json()["version"] == 1


async def test_patch_bad_input_is_422_and_nothing_written(client: httpx.AsyncClient) -> None:
    record = await create(client)
    head = await feed_head(client)
    cases = (
        ({"colour": "red"}, "colour"),
        ({"version": 9}, "version"),
        ({"name_pinyin": "x"}, "name_pinyin"),
        ({"name": None}, "name"),
        ({"orcid": "0000-0002-1825-0098"}, "orcid"),
        ({"disciplines": ["不存在的学科"]}, "disciplines.0"),
        ({"email": "two@@example.cn"}, "email"),
        ({"affiliations": [{"institution_id": "ins_bad"}]}, "affiliations.0.institution_id"),
    )
    for body, field in cases:
        response = await client.patch(
            f"/experts/{record['id']}", json=body, headers={**ADMIN, "If-Match": '"v1"'}
        )
        assert_problem(response, 422, field)
    assert_problem(
        await client.patch(
            f"/experts/{record['id']}", json=["title"], headers={**ADMIN, "If-Match": '"v1"'}
        ),
        422,
    )
    assert await feed_head(client) == head
    assert (await read(client, record["id"])).json()["version"] == 1


async def test_patch_affiliations_are_verified_and_down_service_writes_nothing(
    client: httpx.AsyncClient, down_client: httpx.AsyncClient, institutions: httpx.AsyncClient
) -> None:
    known = await create_institution(institutions)
    record = await create(client)
    head = await feed_head(client)
    unknown = await client.patch(
        f"/experts/{record['id']}",
        json={"affiliations": [{"institution_id": known}, {"institution_id": UNKNOWN_INSTITUTION}]},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert_problem(unknown, 422, "affiliations.1.institution_id")
    down = await down_client.patch(
        f"/experts/{record['id']}",
        json={"affiliations": [{"institution_id": known}]},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert_problem(down, 503)
    assert "retry-after" in down.headers
    assert await feed_head(client) == head
    stored = (await read(client, record["id"])).json()
    assert stored["affiliations"] == [] and stored["version"] == 1
    # fields other than affiliations do not need the institutions service
    title_only = await down_client.patch(
        f"/experts/{record['id']}", json={"title": "教授"}, headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert title_only.status_code == 200, title_only.text


async def test_patch_unknown_record_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch(
        "/experts/exp_zzzzzzzzzzzzzzzzzzzz",
        json={"title": "x"},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert_problem(response, 404)


# --- delete -------------------------------------------------------------------------------


async def test_delete_leaves_tombstone_and_410(client: httpx.AsyncClient) -> None:
    record = await create(client, EDITOR_CAST)
    head = await feed_head(client)
    url = f"/experts/{record['id']}"
    for headers in (EDITOR_OTHER, READER):
        assert_problem(await client.delete(url, headers={**headers, "If-Match": '"v1"'}), 403)
    assert_problem(await client.delete(url, headers={**NO_TOKEN, "If-Match": '"v1"'}), 401)
    assert_problem(await client.delete(url, headers=EDITOR_CAST), 428)
    stale = await client.delete(url, headers={**EDITOR_CAST, "If-Match": '"v7"'})
    assert_problem(stale, 412)
    assert await feed_head(client) == head
    response = await client.delete(url, headers={**EDITOR_CAST, "If-Match": '"v1"'})
    assert response.status_code == 204
    assert_problem(await read(client, record["id"]), 410)
    feed = (await client.get("/internal/changes", params={"after": head}, headers=SERVICE)).json()[
        "changes"
    ]
    assert [(c["record_id"], c["op"], c["version"], c["document"]) for c in feed] == [
        (record["id"], "delete", 2, None)
    ]
    assert_problem(await client.delete(url, headers={**ADMIN, "If-Match": '"v2"'}), 410)
    assert_problem(
        await client.delete(
            "/experts/exp_zzzzzzzzzzzzzzzzzzzz", headers={**ADMIN, "If-Match": '"v1"'}
        ),
        404,
    )


async def test_deleted_orcid_can_be_reused(client: httpx.AsyncClient) -> None:
    orcid = "0000-0001-5109-3700"
    first = await create(client, orcid=orcid)
    await client.delete(f"/experts/{first['id']}", headers={**ADMIN, "If-Match": '"v1"'})
    second = await create(client, orcid=orcid)
    assert (await read(client, f"orcid:{orcid}")).json()["id"] == second["id"]


# --- upsert -------------------------------------------------------------------------------


async def test_upsert_creates_then_is_unchanged_then_updates(
    client: httpx.AsyncClient, institutions: httpx.AsyncClient
) -> None:
    known = await create_institution(institutions)
    url = "/experts/sources/cast-talent-2024/E000123"
    body = {
        "name": unique_name("单"),
        "affiliations": [{"institution_id": known, "position": "教授"}],
        "email": "expert@example.cn",
    }
    first = await client.put(url, json=body, headers=ADMIN)
    assert first.status_code == 201 and first.headers["zhihui-upsert"] == "created"
    assert first.headers["location"] == f"/experts/{first.json()['id']}"
    assert first.json()["name_pinyin"].startswith("shan ")
    again = await client.put(url, json=body, headers=ADMIN)
    assert again.status_code == 200 and again.headers["zhihui-upsert"] == "unchanged"
    assert again.json()["version"] == 1 and again.json()["id"] == first.json()["id"]
    changed = await client.put(url, json={**body, "title": "研究员"}, headers=ADMIN)
    assert changed.headers["zhihui-upsert"] == "updated" and changed.json()["version"] == 2
    assert changed.json()["source"] == "cast-talent-2024"
    assert changed.json()["external_id"] == "E000123"
    assert changed.headers["etag"] == '"v2"'


async def test_upsert_not_allowed_for_reader_or_without_token(
    client: httpx.AsyncClient,
) -> None:
    url = "/experts/sources/society-x/1"
    created = await client.put(url, json={"name": unique_name()}, headers=EDITOR_CAST)
    assert created.status_code == 201
    head = await feed_head(client)
    assert_problem(await client.put(url, json={"name": unique_name()}, headers=READER), 403)
    assert_problem(await client.put(url, json={"name": unique_name()}, headers=NO_TOKEN), 401)
    assert await feed_head(client) == head


async def test_upsert_bad_input_and_unknown_institution_write_nothing(
    client: httpx.AsyncClient, down_client: httpx.AsyncClient
) -> None:
    url = "/experts/sources/society-y/2"
    head = await feed_head(client)
    bad = await client.put(url, json={"name": unique_name(), "phone": "abc"}, headers=ADMIN)
    assert_problem(bad, 422, "phone")
    unknown = await client.put(
        url,
        json={"name": unique_name(), "affiliations": [{"institution_id": UNKNOWN_INSTITUTION}]},
        headers=ADMIN,
    )
    assert_problem(unknown, 422, "affiliations.0.institution_id")
    down = await down_client.put(
        url,
        json={"name": unique_name(), "affiliations": [{"institution_id": UNKNOWN_INSTITUTION}]},
        headers=ADMIN,
    )
    assert_problem(down, 503)
    assert await feed_head(client) == head
    assert_problem(await read(client, "exp_zzzzzzzzzzzzzzzzzzzz"), 404)


# --- health -------------------------------------------------------------------------------


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
