"""Expert and institution IDs are checked with their services; a peer down writes nothing."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.kernel.record_ids import new_id
from tests.actors import ADMIN
from tests.helpers import assert_problem
from tests.helpers import feed_head
from tests.outcomes.conftest import KNOWN_EXPERTS
from tests.outcomes.helpers import create
from tests.outcomes.helpers import paper_body
from tests.outcomes.helpers import read


async def _institution(institutions: httpx.AsyncClient) -> dict[str, str]:
    response = await institutions.post(
        "/institutions",
        json={"name": f"中国科学院科技战略咨询研究院{new_id('ins')[-6:]}", "type": "think_tank"},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_known_references_are_accepted_in_one_call_per_peer(
    client: httpx.AsyncClient, institutions: httpx.AsyncClient, experts_app: FastAPI
) -> None:
    institution = await _institution(institutions)
    calls_before = len(experts_app.state.calls)
    record = await create(
        client,
        authors=[{"expert_id": e} for e in KNOWN_EXPERTS[:3]],
        institution_ids=[institution["id"]],
    )
    assert [a["expert_id"] for a in record["authors"]] == list(KNOWN_EXPERTS[:3])
    assert experts_app.state.calls[calls_before:] == [list(KNOWN_EXPERTS[:3])]


async def test_unknown_references_are_422_naming_each_field_and_write_nothing(
    client: httpx.AsyncClient, institutions: httpx.AsyncClient
) -> None:
    institution = await _institution(institutions)
    stranger, missing_institution = new_id("exp"), new_id("ins")
    head = await feed_head(client)
    response = await client.post(
        "/outcomes",
        json=paper_body(
            authors=[{"expert_id": KNOWN_EXPERTS[0]}, {"expert_id": stranger, "name": "某某"}],
            institution_ids=[institution["id"], missing_institution],
        ),
        headers=ADMIN,
    )
    body = assert_problem(response, 422, "authors.1.expert_id")
    locs = [e["loc"] for e in body["errors"]]
    assert locs == [["body", "authors", 1, "expert_id"], ["body", "institution_ids", 1]]
    assert stranger in body["errors"][0]["msg"]
    assert missing_institution in body["errors"][1]["msg"]
    assert await feed_head(client) == head


async def test_a_deleted_institution_is_unknown(
    client: httpx.AsyncClient, institutions: httpx.AsyncClient
) -> None:
    institution = await _institution(institutions)
    deleted = await institutions.delete(
        f"/institutions/{institution['id']}", headers={**ADMIN, "If-Match": '"v1"'}
    )
    assert deleted.status_code == 204
    response = await client.post(
        "/outcomes", json=paper_body(institution_ids=[institution["id"]]), headers=ADMIN
    )
    assert_problem(response, 422, "institution_ids.0")


async def test_patch_checks_only_references_it_adds(
    client: httpx.AsyncClient, experts_app: FastAPI
) -> None:
    record = await create(client, authors=[{"expert_id": KNOWN_EXPERTS[0]}])
    calls_before = len(experts_app.state.calls)
    reordered = await client.patch(
        f"/outcomes/{record['id']}",
        json={"authors": [{"name": "新作者"}, {"expert_id": KNOWN_EXPERTS[0]}]},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert reordered.status_code == 200, reordered.text
    assert len(experts_app.state.calls) == calls_before  # nothing new to verify
    stranger = new_id("exp")
    added = await client.patch(
        f"/outcomes/{record['id']}",
        json={"authors": [{"expert_id": KNOWN_EXPERTS[0]}, {"expert_id": stranger}]},
        headers={**ADMIN, "If-Match": '"v2"'},
    )
    assert_problem(added, 422, "authors.1.expert_id")
    assert experts_app.state.calls[calls_before:] == [[stranger]]
    assert (await read(client, record["id"])).json()["version"] == 2


async def test_peer_down_is_503_and_nothing_written(
    client: httpx.AsyncClient, client_peers_down: httpx.AsyncClient
) -> None:
    head = await feed_head(client)
    for fields in (
        {"authors": [{"expert_id": KNOWN_EXPERTS[0]}]},
        {"institution_ids": [new_id("ins")]},
    ):
        response = await client_peers_down.post(
            "/outcomes", json=paper_body(**fields), headers=ADMIN
        )
        assert_problem(response, 503)
        assert response.headers["retry-after"]
    upsert = await client_peers_down.put(
        "/outcomes/sources/peer-down/1",
        json=paper_body(authors=[{"expert_id": KNOWN_EXPERTS[1]}]),
        headers=ADMIN,
    )
    assert_problem(upsert, 503)
    assert await feed_head(client) == head


async def test_edits_that_add_no_reference_work_while_peers_are_down(
    client: httpx.AsyncClient, client_peers_down: httpx.AsyncClient
) -> None:
    record = await create(client, authors=[{"expert_id": KNOWN_EXPERTS[3]}])
    response = await client_peers_down.patch(
        f"/outcomes/{record['id']}",
        json={"series": "《科技工作者建议》"},
        headers={**ADMIN, "If-Match": '"v1"'},
    )
    assert response.status_code == 200, response.text
    assert response.json()["authors"][0]["expert_id"] == KNOWN_EXPERTS[3]
    head = await feed_head(client)
    adding = await client_peers_down.patch(
        f"/outcomes/{record['id']}",
        json={"authors": [{"expert_id": KNOWN_EXPERTS[3]}, {"expert_id": KNOWN_EXPERTS[4]}]},
        headers={**ADMIN, "If-Match": '"v2"'},
    )
    assert_problem(adding, 503)
    assert await feed_head(client) == head
    assert (await read(client, record["id"])).json()["version"] == 2
    # a record without references needs no peer at all
    plain = await client_peers_down.post("/outcomes", json=paper_body(), headers=ADMIN)
    assert plain.status_code == 201, plain.text
