"""Visibility on reads, as defence in depth behind the gateway: an invisible record is a 404."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.kernel.internal_auth import Actor
from services.kernel.internal_auth import Role
from services.kernel.visibility import Visibility
from services.kernel.visibility import can_see
from services.kernel.visibility import scope_for
from tests.actors import ADMIN
from tests.actors import ANONYMOUS
from tests.actors import EDITOR_CAST
from tests.actors import EDITOR_OTHER
from tests.actors import SERVICE
from tests.actors import internal_headers
from tests.helpers import assert_problem
from tests.helpers import feed_head
from tests.outcomes.helpers import create
from tests.outcomes.helpers import paper_body
from tests.outcomes.helpers import read

# Records below are owned by "cast"; each row: (actor headers, public, partner, internal).
MATRIX: dict[str, tuple[dict[str, str], bool, bool, bool]] = {
    "anonymous": (ANONYMOUS, True, False, False),
    "anonymous claiming cast": (internal_headers("anonymous", "cast"), True, False, False),
    "reader of another org": (internal_headers("reader", "csae"), True, True, False),
    "reader of the owning org": (internal_headers("reader", "cast"), True, True, True),
    "editor of another org": (EDITOR_OTHER, True, True, False),
    "editor of the owning org": (EDITOR_CAST, True, True, True),
    "admin": (ADMIN, True, True, True),
    "service": (SERVICE, True, True, True),
}
LEVELS = ("public", "partner", "internal")


@pytest.fixture(scope="module")
async def records(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """One outcome per visibility, owned by cast, each with a DOI."""
    made = {}
    for index, level in enumerate(LEVELS):
        made[level] = await create(
            client,
            EDITOR_CAST,
            visibility=level,
            doi=f"10.5555/visibility-{level}-{index}",
            type="internal_reference" if level == "internal" else "research_report",
        )
    return made


async def test_reads_by_id_and_doi_follow_the_matrix(
    client: httpx.AsyncClient, records: dict[str, dict[str, Any]]
) -> None:
    for who, (headers, *allowed) in MATRIX.items():
        for level, visible in zip(LEVELS, allowed, strict=True):
            record = records[level]
            for ref in (record["id"], f"doi:{record['doi']}"):
                response = await read(client, ref, headers)
                if visible:
                    assert response.status_code == 200, (who, level, ref)
                    assert response.json()["id"] == record["id"]
                else:
                    assert_problem(response, 404)


async def test_lists_follow_the_matrix(
    client: httpx.AsyncClient, records: dict[str, dict[str, Any]]
) -> None:
    ids = [records[level]["id"] for level in LEVELS]
    for who, (headers, *allowed) in MATRIX.items():
        expected = sorted(i for i, ok in zip(ids, allowed, strict=True) if ok)
        by_ids = await client.get("/outcomes", params={"ids": ",".join(ids)}, headers=headers)
        assert [r["id"] for r in by_ids.json()["results"]] == expected, who
        listed: list[str] = []
        cursor = None
        while True:
            params = {"page_size": 100, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/outcomes", params=params, headers=headers)).json()
            listed += [r["id"] for r in page["results"] if r["id"] in ids]
            cursor = page["meta"]["next_cursor"]
            if not cursor:
                break
        assert sorted(listed) == expected, who


async def test_an_invisible_record_answers_exactly_like_a_missing_one(
    client: httpx.AsyncClient, records: dict[str, dict[str, Any]]
) -> None:
    hidden = records["internal"]["id"]
    missing = "out_" + "z" * 20
    invisible = (await read(client, hidden, ANONYMOUS)).json()
    absent = (await read(client, missing, ANONYMOUS)).json()
    for body in (invisible, absent):
        body.pop("request_id")
    assert invisible["detail"].replace(hidden, missing) == absent["detail"]
    assert {**invisible, "detail": None, "instance": None} == {
        **absent,
        "detail": None,
        "instance": None,
    }


async def test_writes_to_an_invisible_record_are_404_and_to_a_visible_one_403(
    client: httpx.AsyncClient, records: dict[str, dict[str, Any]]
) -> None:
    head = await feed_head(client)
    for level, status in (("internal", 404), ("partner", 403)):
        url = f"/outcomes/{records[level]['id']}"
        patch = await client.patch(
            url, json={"series": "x"}, headers={**EDITOR_OTHER, "If-Match": '"v1"'}
        )
        assert_problem(patch, status)
        delete = await client.delete(url, headers={**EDITOR_OTHER, "If-Match": '"v1"'})
        assert_problem(delete, status)
    assert await feed_head(client) == head


async def test_a_deleted_invisible_record_is_404_not_410(client: httpx.AsyncClient) -> None:
    record = await create(client, EDITOR_CAST, visibility="internal")
    deleted = await client.delete(
        f"/outcomes/{record['id']}", headers={**EDITOR_CAST, "If-Match": '"v1"'}
    )
    assert deleted.status_code == 204
    assert_problem(await read(client, record["id"], internal_headers("reader", "csae")), 404)
    assert_problem(await read(client, record["id"], internal_headers("reader", "cast")), 410)


async def test_duplicate_doi_of_an_invisible_record_does_not_name_it(
    client: httpx.AsyncClient, records: dict[str, dict[str, Any]]
) -> None:
    hidden = records["internal"]
    response = await client.post(
        "/outcomes", json=paper_body(doi=hidden["doi"]), headers=EDITOR_OTHER
    )
    body = assert_problem(response, 409, "doi")
    assert hidden["id"] not in response.text and "another outcome" in body["detail"]


def test_can_see_is_the_one_rule() -> None:
    """The kernel rule on its own: roles × levels × own/other organisation."""
    for role in Role:
        for level in Visibility:
            for org in ("cast", "csae", None):
                actor = Actor(role=role, org=org)
                seen = can_see(actor, level, "cast")
                if role in (Role.ADMIN, Role.SERVICE):
                    expected = True
                elif role is Role.ANONYMOUS:
                    expected = level is Visibility.PUBLIC
                else:
                    expected = level is not Visibility.INTERNAL or org == "cast"
                assert seen is expected, (role, level, org)
                assert scope_for(actor).admits(level, "cast") is expected
    assert can_see(None, "public", None) and not can_see(None, "partner", None)
    # an unknown level is never shown, except to those who see everything
    assert not can_see(Actor(role=Role.READER, org="x"), "secret", "y")
    assert can_see(Actor(role=Role.ADMIN), "secret", "y")
