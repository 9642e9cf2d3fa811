"""How the access sweep exercises each GET route, and how one request is checked.

`ROUTES` maps every GET path of the gateway's OpenAPI document to a builder of probes: the
requests (with query parameters chosen to surface a canary: q=<canary>, facets on visibility,
owner and keywords, suggestion prefixes, statistics, cursors…) and what the answer must be
for the caller. `check` runs one probe: expected status and counts, no forbidden canary in the
body, headers or decoded cursors, and, for a record the caller may not see, an answer
identical to the one for a record that does not exist.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import httpx

from tests.reliability.access_world import CALLERS
from tests.reliability.access_world import World
from tests.reliability.access_world import sees
from tests.reliability.access_world import sees_dataset_restricted
from tests.reliability.access_world import sees_expert_contact

Expect = Callable[[httpx.Response], list[str]]
# Headers that differ between any two requests and say nothing about the record.
_VOLATILE_HEADERS = ("x-ratelimit-remaining", "date", "content-length")  # body compared
# Sent with a hidden record's request and its twin, so the echoed request ID matches.
TWIN_REQUEST_ID = "access-sweep-twin"


@dataclass
class Probe:
    route: str
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    expect: Expect | None = None
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    single_read: bool = False  # a record read: restricted fields allowed to the right roles
    # A request for something that does not exist, and the (hidden, twin) strings that tell
    # the two URLs apart: both answers must be the same once those are swapped.
    twin: tuple[str, Sequence[tuple[str, str]]] | None = None
    follow_cursor: bool = False  # walk meta.next_cursor; `expect` sees the last page + `walked`


@dataclass
class Outcome:
    requests: int = 0
    failures: list[str] = field(default_factory=list)


def fake_id(prefix: str) -> str:
    return f"{prefix}_{'z' * 20}"


# ------------------------------------------------------------------------------ expectations


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def status(code: int, then: Callable[[Any], list[str]] | None = None) -> Expect:
    def expect(response: httpx.Response) -> list[str]:
        if response.status_code != code:
            return [f"status {response.status_code}, expected {code}: {response.text[:200]}"]
        return then(_body(response)) if then else []

    return expect


def visible_or_404(visible: bool, then: Callable[[Any], list[str]] | None = None) -> Expect:
    return status(200, then) if visible else status(404)


def equal(what: str, got: object, expected: object) -> list[str]:
    return [] if got == expected else [f"{what}: got {got!r}, expected {expected!r}"]


def ids(body: Any) -> set[str]:
    return {r["id"] for r in body["results"]}


def facet(body: Any, name: str) -> dict[Any, int]:
    return {b["value"]: b["count"] for b in body["facets"][name] if b["count"]}


def list_is(expected_ids: set[str], facets: dict[str, dict[Any, int]] | None = None) -> Expect:
    """A list answer: exactly these IDs (one page), `meta.count` and facet counts to match."""

    def check(body: Any) -> list[str]:
        failures = equal("ids", ids(body), expected_ids)
        failures += equal("meta.count", body["meta"]["count"], len(expected_ids))
        for name, counts in (facets or {}).items():
            failures += equal(f"facet {name}", facet(body, name), counts)
        return failures

    return status(200, check)


def count_is(expected: int) -> Expect:
    return status(200, lambda body: equal("meta.count", body["meta"]["count"], expected))


# ------------------------------------------------------------------------------ route builders


def _ops(w: World, caller: str, route: str) -> list[Probe]:
    return [Probe(route, route, expect=status(200))]


def _admin_keys(w: World, caller: str, route: str) -> list[Probe]:
    code = {None: 401, "admin": 200}.get(CALLERS[caller][0], 403)
    return [Probe(route, route, {"include_revoked": "true"}, status(code))]


def _datasets(w: World, caller: str, route: str) -> list[Probe]:
    ours = {d.slug for d in w.datasets}
    expected = {d.slug for d in w.visible_datasets(caller)}

    def check(body: Any) -> list[str]:
        return equal("datasets listed", {d["slug"] for d in body["results"]} & ours, expected)

    return [Probe(route, route, {"page_size": 100}, status(200, check), single_read=True)]


def _dataset(w: World, caller: str, route: str) -> list[Probe]:
    probes = []
    for d in w.datasets:
        visible = sees(caller, d.level, d.org)
        twin = (route.replace("{slug}", "acc-none-zzzzzz"), [(d.slug, "acc-none-zzzzzz")])
        for method in ("GET", "HEAD"):
            probes.append(
                Probe(
                    route,
                    route.replace("{slug}", d.slug),
                    method=method,
                    expect=(visible_or_404(visible) if method == "GET" else None),
                    single_read=True,
                    twin=None if visible else twin,
                )
            )
    return probes


def _library_facets(w: World, caller: str) -> dict[str, dict[Any, int]]:
    visible = w.visible_outcomes(caller)
    keywords = Counter(o.keyword for o in visible)
    if visible:
        keywords["科技治理"] = len(visible)
    return {
        "visibility": dict(Counter(o.level for o in visible)),
        "owner_org": dict(Counter(o.org for o in visible)),
        "keyword": dict(keywords),
        "series": dict(Counter(o.series for o in visible)),
    }


def _search(w: World, caller: str, route: str) -> list[Probe]:
    visible = w.visible_outcomes(caller)
    events = w.visible_events(caller)
    libraries = {
        "institutions": 2,
        "experts": 1,
        **({"outcomes": len(visible)} if visible else {}),
        **({"events": len(events)} if events else {}),
    }

    def everything(body: Any) -> list[str]:
        return equal("library facet", facet(body, "library"), libraries) + equal(
            "meta.count", body["meta"]["count"], sum(libraries.values())
        )

    probes = [
        Probe(route, route, {"facets": "library", "page_size": 100}, status(200, everything)),
        Probe(route, route, {"cursor": "*", "page_size": 2}, follow_cursor=True),
        Probe(route, route, {"q": w.email}, count_is(0)),
        Probe(route, route, {"q": w.phone}, count_is(0)),
    ]
    for o in w.outcomes:
        expected = {o.id} if sees(caller, o.level, o.org) else set()
        probes.append(Probe(route, route, {"q": o.title, "facets": "library"}, list_is(expected)))
    for e in w.events:
        expected = {e.id} if sees(caller, e.level, e.org) else set()
        probes.append(Probe(route, route, {"q": e.title, "facets": "library"}, list_is(expected)))
    return probes


def _autocomplete(w: World, caller: str, route: str) -> list[Probe]:
    visible = {o.id for o in w.visible_outcomes(caller)}

    def broad(body: Any) -> list[str]:
        return equal("outcomes suggested for zqt", ids(body) & {o.id for o in w.outcomes}, visible)

    probes = [
        Probe(route, route, {"q": "zqt"}, status(200, broad)),
        Probe(route, route, {"q": w.email[:8]}, status(200)),
    ]
    for o in w.outcomes:

        def exact(body: Any, o=o) -> list[str]:  # type: ignore[no-untyped-def]
            return equal(f"{o.title} suggested", o.id in ids(body), o.id in visible)

        probes.append(Probe(route, route, {"q": o.title}, status(200, exact)))
    for e in w.events:

        def event_shown(body: Any, e=e) -> list[str]:  # type: ignore[no-untyped-def]
            return equal(f"{e.title} suggested", e.id in ids(body), sees(caller, e.level, e.org))

        probes.append(Probe(route, route, {"q": e.title}, status(200, event_shown)))
    for d in w.datasets:
        probes.append(Probe(route, route, {"q": d.records[0].title}, status(200)))
    return probes


def _stats(w: World, caller: str, route: str) -> list[Probe]:
    visible = w.visible_outcomes(caller)
    events = w.visible_events(caller)
    outcomes = route.replace("{library}", "outcomes")

    def by_level_and_org(body: Any) -> list[str]:
        got = {(r["key"]["visibility"], r["key"]["owner_org"]): r["count"] for r in body["results"]}
        expected = dict(Counter((o.level, o.org) for o in visible))
        return equal("groups", got, expected) + equal("total", body["total"], len(visible))

    def by_keyword(body: Any) -> list[str]:
        got = {r["key"]["keyword"]: r["count"] for r in body["results"]}
        return equal("keyword groups", got, _library_facets(w, caller)["keyword"])

    probes = [
        Probe(route, outcomes, {"group_by": "visibility,owner_org"}, status(200, by_level_and_org)),
        Probe(route, outcomes, {"group_by": "keyword"}, status(200, by_keyword)),
        Probe(route, outcomes, {"group_by": "series,author"}, status(200)),
        Probe(route, route.replace("{library}", "institutions"), {"group_by": "type,owner_org"}),
        Probe(route, route.replace("{library}", "experts"), {"group_by": "institution"}),
        Probe(
            route,
            route.replace("{library}", "events"),
            {"group_by": "visibility,owner_org"},
            status(200, lambda body: equal("events counted", body["total"], len(events))),
        ),
    ]
    for o in w.outcomes:
        total = int(sees(caller, o.level, o.org))
        probes.append(
            Probe(
                route,
                outcomes,
                {"group_by": "type", "q": o.abstract},
                status(200, lambda body, t=total: equal("total", body["total"], t)),
            )
        )
    return probes


def _match(w: World, caller: str, route: str) -> list[Probe]:
    name = w.institution["name"]

    def found(body: Any) -> list[str]:
        return equal("institution matched", w.institution["id"] in ids(body), True)

    titles = " ".join(o.title for o in w.outcomes)
    return [
        Probe(route, route, {"affiliation": f"{name}，北京"}, status(200, found)),
        Probe(route, route, {"affiliation": f"{titles} {name}"}, status(200)),
    ]


def _related(w: World, caller: str, route: str) -> list[Probe]:
    visible = w.visible_outcomes(caller)
    institution, expert = w.institution["id"], w.expert["id"]
    outcomes = {o.id for o in visible}
    facets = "visibility,owner_org,keyword,series"
    if route.endswith("/children"):
        return [
            Probe(route, route.replace("{record_id}", institution), {}, list_is({w.child["id"]}))
        ]
    if route.endswith("/experts"):
        return [Probe(route, route.replace("{record_id}", institution), {}, list_is({expert}))]
    if route.endswith("/events"):
        return _related_events(w, caller, route)
    owner = institution if route.startswith("/api/v1/institutions") else expert
    url = route.replace("{record_id}", owner)
    probes = [
        Probe(
            route,
            url,
            {"facets": facets, "page_size": 100},
            list_is(outcomes, _library_facets(w, caller)),
        ),
        Probe(route, url, {"cursor": "*", "page_size": 2, "sort": "title:asc"}, follow_cursor=True),
        # Related records of a record that is not there: its 404, as the record itself says.
        Probe(route, route.replace("{record_id}", fake_id("out")), {"facets": facets}, status(404)),
    ]
    for o in w.outcomes:
        expected = {o.id} if o.id in outcomes else set()
        probes.append(Probe(route, url, {"q": o.keyword}, list_is(expected)))
    return probes


def _related_events(w: World, caller: str, route: str) -> list[Probe]:
    """Every event is organised by the institution, has the expert speak and names cast's
    public outcome: each owner lists exactly the events the caller may see."""
    events = {e.id for e in w.visible_events(caller)}
    owner = {
        "institutions": w.institution["id"],
        "experts": w.expert["id"],
        "outcomes": w.named_outcome.id,
    }[route.split("/")[3]]
    url = route.replace("{record_id}", owner)
    levels = dict(Counter(e.level for e in w.visible_events(caller)))
    probes = [
        Probe(
            route,
            url,
            {"facets": "visibility", "page_size": 100},
            list_is(events, {"visibility": levels}),
        ),
        Probe(route, url, {"cursor": "*", "page_size": 2}, follow_cursor=True),
        Probe(route, route.replace("{record_id}", fake_id("evt")), {}, status(404)),
    ]
    for e in w.events:
        probes.append(Probe(route, url, {"q": e.keyword}, list_is({e.id} & events)))
    return probes


def _events(w: World, caller: str, route: str) -> list[Probe]:
    visible = w.visible_events(caller)
    events = {e.id for e in visible}
    facets = {
        "visibility": dict(Counter(e.level for e in visible)),
        "owner_org": dict(Counter(e.org for e in visible)),
        "series": {e.series: 1 for e in visible},
    }
    probes = [
        Probe(route, route, {"facets": "visibility,owner_org,series", "page_size": 100},
              list_is(events, facets)),
        Probe(route, route, {"cursor": "*", "page_size": 2, "sort": "title:asc"},
              follow_cursor=True),
        Probe(route, route, {"filter": "kind:symposium", "facets": "owner_org"}, list_is(events)),
    ]  # fmt: skip
    for e in w.events:
        expected = {e.id} & events
        probes.append(Probe(route, route, {"q": e.title}, list_is(expected)))
        probes.append(Probe(route, route, {"filter": f"series:{e.series}"}, list_is(expected)))
    return probes


def _institutions(w: World, caller: str, route: str) -> list[Probe]:
    everything = {w.institution["id"], w.child["id"]}
    probes = [
        Probe(route, route, {"facets": "owner_org,type", "page_size": 100}, list_is(everything)),
        Probe(route, route, {"q": w.institution["name"]}, status(200)),
    ]
    probes += [Probe(route, route, {"q": o.title}, count_is(0)) for o in w.outcomes]
    return probes


def _experts(w: World, caller: str, route: str) -> list[Probe]:
    return [
        Probe(
            route,
            route,
            {"facets": "institution,owner_org", "page_size": 100},
            list_is({w.expert["id"]}),
        ),
        Probe(route, route, {"q": w.email}, count_is(0)),
        Probe(route, route, {"q": w.phone}, count_is(0)),
        Probe(route, route, {"q": "钱访问", "select": "id,name,email,phone"}, count_is(1)),
    ]


def _outcomes(w: World, caller: str, route: str) -> list[Probe]:
    visible = w.visible_outcomes(caller)
    outcomes = {o.id for o in visible}
    probes = [
        Probe(
            route,
            route,
            {"facets": "visibility,owner_org,keyword,series,author,institution,year"},
            list_is(outcomes, _library_facets(w, caller)),
        ),
        Probe(
            route, route, {"cursor": "*", "page_size": 2, "sort": "title:asc"}, follow_cursor=True
        ),
        Probe(route, route, {"page": 2, "page_size": 2, "select": "id,title,abstract"}),
        Probe(
            route,
            route,
            {"filter": "visibility:internal|partner", "facets": "owner_org"},
            list_is({o.id for o in visible if o.level != "public"}),
        ),
        Probe(
            route,
            route,
            {"filter": "owner_org:csae", "facets": "visibility"},
            list_is({o.id for o in visible if o.org == "csae"}),
        ),
    ]
    for o in w.outcomes:
        expected = {o.id} if o.id in outcomes else set()
        for q in (o.title, o.abstract):
            probes.append(Probe(route, route, {"q": q, "facets": "keyword"}, list_is(expected)))
        probes.append(Probe(route, route, {"filter": f"series:{o.series}"}, list_is(expected)))
    return probes


def _contact_shown(expected: bool, contact: str) -> Callable[[Any], list[str]]:
    return lambda body: equal(f"{contact} shown", contact in str(body), expected)


def _record(w: World, caller: str, route: str) -> list[Probe]:
    library = route.split("/")[3]
    if library == "institutions":
        probes = [
            Probe(route, route.replace("{ref}", i["id"]), expect=status(200), single_read=True)
            for i in (w.institution, w.child)
        ]
        return [*probes, Probe(route, route.replace("{ref}", fake_id("ins")), expect=status(404))]
    if library == "experts":
        shown = sees_expert_contact(caller)
        url = route.replace("{ref}", w.expert["id"])
        return [
            Probe(route, url, expect=status(200, _contact_shown(shown, w.email)), single_read=True),
            Probe(route, url, method="HEAD", single_read=True),
        ]
    if library == "events":
        return _event_records(w, caller, route)
    probes = []
    for o in w.outcomes:
        visible = sees(caller, o.level, o.org)
        unknown = fake_id("out")
        for ref, twin, method, headers in (
            (o.id, unknown, "GET", {}),
            (o.id, unknown, "GET", {"If-None-Match": '"v1"', "If-Match": '"v1"'}),
            (o.id, unknown, "HEAD", {}),
            (f"doi:{o.doi}", "doi:10.99999/zqnonexistent", "GET", {}),
        ):
            probes.append(
                Probe(
                    route,
                    route.replace("{ref}", ref),
                    method=method,
                    headers=headers,
                    expect=visible_or_404(visible) if method == "GET" else None,
                    single_read=True,
                    twin=None if visible else (route.replace("{ref}", twin), [(ref, twin)]),
                )
            )
    return probes


def _event_records(w: World, caller: str, route: str) -> list[Probe]:
    probes = []
    for e in w.events:
        visible = sees(caller, e.level, e.org)
        unknown = fake_id("evt")
        for method in ("GET", "HEAD"):
            probes.append(
                Probe(
                    route,
                    route.replace("{ref}", e.id),
                    method=method,
                    expect=visible_or_404(visible) if method == "GET" else None,
                    single_read=True,
                    twin=None if visible else (route.replace("{ref}", unknown), [(e.id, unknown)]),
                )
            )
    return probes


def _history_status(caller: str, level: str, owner: str, seen_as: str | None = None) -> int:
    """A history: admins and the owning organisation's editors (200), if they may see the
    record. Another editor gets a 403 for a record they may see and a 404 (as if missing) for
    one they may not; a reader a 403 whether the record exists or not, anonymous callers a
    401. `seen_as`: the organisation whose visibility decides (a database's, for its
    records), the owner's by default."""
    role, org = CALLERS[caller]
    if role is None:
        return 401
    if role == "reader":
        return 403
    if not sees(caller, level, seen_as or owner):
        return 404
    return 200 if role == "admin" or owner == org else 403


def _history_probe(
    route: str, url: str, expected: int, twin: tuple[str, Sequence[tuple[str, str]]]
) -> Probe:
    def created_first(body: Any) -> list[str]:
        return equal("oldest write", body["results"][-1]["op"], "create")

    return Probe(
        route,
        url,
        expect=status(200, created_first) if expected == 200 else status(expected),
        single_read=True,
        # Hidden: answered byte for byte like the record that does not exist.
        twin=twin if expected == 404 else None,
    )


def _history(w: World, caller: str, route: str) -> list[Probe]:
    library = route.split("/")[3]
    if library == "institutions":
        records = [(i["id"], "public", i["owner_org"]) for i in (w.institution, w.child)]
    elif library == "experts":
        records = [(w.expert["id"], "public", w.expert["owner_org"])]
    else:
        kept = w.outcomes if library == "outcomes" else w.events
        records = [(r.id, r.level, r.org) for r in kept]
    unknown = fake_id(records[0][0].split("_")[0])
    missing = route.replace("{ref}", unknown)
    refused = {None: 401, "reader": 403}.get(CALLERS[caller][0], 404)
    probes = [Probe(route, missing, expect=status(refused))]
    for record_id, level, owner in records:
        expected = _history_status(caller, level, owner)
        url = route.replace("{ref}", record_id)
        probes.append(_history_probe(route, url, expected, (missing, [(record_id, unknown)])))
    return probes


def _dataset_history(w: World, caller: str, route: str) -> list[Probe]:
    """A definition's history (its owner's editors), or its records' (each record's owner's),
    the database's visibility deciding what is hidden."""
    probes = []
    absent = "acc-none-zzzzzz"
    for d in w.datasets:
        twin_url = route.replace("{slug}", absent)
        if "{ref}" not in route:
            expected = _history_status(caller, d.level, d.org)
            url = route.replace("{slug}", d.slug)
            probes.append(_history_probe(route, url, expected, (twin_url, [(d.slug, absent)])))
            continue
        for r in d.records:
            expected = _history_status(caller, d.level, r.org, seen_as=d.org)
            url = route.replace("{slug}", d.slug).replace("{ref}", r.id)
            twin = (twin_url.replace("{ref}", r.id), [(d.slug, absent)])
            probes.append(_history_probe(route, url, expected, twin))
    return probes


def _dataset_records(w: World, caller: str, route: str) -> list[Probe]:
    probes = []
    public = next(d for d in w.datasets if d.level == "public")
    for d in w.datasets:
        visible = sees(caller, d.level, d.org)
        url = route.replace("{slug}", d.slug)
        twin = (route.replace("{slug}", "acc-none-zzzzzz"), [(d.slug, "acc-none-zzzzzz")])
        topics = {r.topic: 1 for r in d.records}
        probes.append(
            Probe(
                route,
                url,
                {"facets": "topic", "page_size": 100},
                list_is({r.id for r in d.records}, {"topic": topics}) if visible else status(404),
                twin=None if visible else twin,
            )
        )
        for r in d.records:
            expected = {r.id} if visible else set()
            probes.append(
                Probe(
                    route,
                    url,
                    {"q": r.title},
                    list_is(expected) if visible else status(404),
                    twin=None if visible else twin,
                )
            )
            if d is not public:
                # A record of another database never surfaces in this one's search.
                probes.append(
                    Probe(route, route.replace("{slug}", public.slug), {"q": r.title}, count_is(0))
                )
    return probes


def _dataset_record(w: World, caller: str, route: str) -> list[Probe]:
    probes = []
    public = next(d for d in w.datasets if d.level == "public")
    for d in w.datasets:
        visible = sees(caller, d.level, d.org)
        for r in d.records:
            url = route.replace("{slug}", d.slug).replace("{ref}", r.id)
            shown = sees_dataset_restricted(caller, r.org)
            unknown = fake_id("dsr")
            twin = (
                route.replace("{slug}", "acc-none-zzzzzz").replace("{ref}", unknown),
                [(d.slug, "acc-none-zzzzzz"), (r.id, unknown)],
            )
            for method in ("GET", "HEAD"):
                probes.append(
                    Probe(
                        route,
                        url,
                        method=method,
                        expect=(
                            visible_or_404(visible, _contact_shown(shown, r.contact))
                            if method == "GET"
                            else None
                        ),
                        single_read=True,
                        twin=None if visible else twin,
                    )
                )
            if d is not public:
                # Asked for under a database the caller sees: as if the record did not exist.
                crossed = route.replace("{slug}", public.slug)
                probes.append(
                    Probe(
                        route,
                        crossed.replace("{ref}", r.id),
                        expect=status(404),
                        single_read=True,
                        twin=(crossed.replace("{ref}", unknown), [(r.id, unknown)]),
                    )
                )
    return probes


Builder = Callable[[World, str, str], list[Probe]]

# Every GET route of the gateway's OpenAPI document. A route missing here fails the sweep.
ROUTES: dict[str, Builder] = {
    "/healthz": _ops,
    "/readyz": _ops,
    "/metrics": _ops,
    "/api/v1/admin/keys": _admin_keys,
    "/api/v1/datasets": _datasets,
    "/api/v1/datasets/{slug}": _dataset,
    "/api/v1/search": _search,
    "/api/v1/autocomplete": _autocomplete,
    "/api/v1/stats/{library}": _stats,
    "/api/v1/institutions/match": _match,
    "/api/v1/institutions/{record_id}/children": _related,
    "/api/v1/institutions/{record_id}/experts": _related,
    "/api/v1/institutions/{record_id}/outcomes": _related,
    "/api/v1/experts/{record_id}/outcomes": _related,
    "/api/v1/institutions/{record_id}/events": _related,
    "/api/v1/experts/{record_id}/events": _related,
    "/api/v1/outcomes/{record_id}/events": _related,
    "/api/v1/institutions": _institutions,
    "/api/v1/institutions/{ref}": _record,
    "/api/v1/experts": _experts,
    "/api/v1/experts/{ref}": _record,
    "/api/v1/outcomes": _outcomes,
    "/api/v1/outcomes/{ref}": _record,
    "/api/v1/events": _events,
    "/api/v1/events/{ref}": _record,
    "/api/v1/institutions/{ref}/history": _history,
    "/api/v1/experts/{ref}/history": _history,
    "/api/v1/outcomes/{ref}/history": _history,
    "/api/v1/events/{ref}/history": _history,
    "/api/v1/datasets/{slug}/history": _dataset_history,
    "/api/v1/datasets/{slug}/records/{ref}/history": _dataset_history,
    "/api/v1/datasets/{slug}/records": _dataset_records,
    "/api/v1/datasets/{slug}/records/{ref}": _dataset_record,
}


# ------------------------------------------------------------------------------ checking


def _decoded_cursors(body: Any) -> str:
    """Cursors are base64 JSON of sort values: a leak could hide in them."""
    if not isinstance(body, dict):
        return ""
    cursor = (body.get("meta") or {}).get("next_cursor")
    if not isinstance(cursor, str) or cursor == "*":
        return ""
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode(
            "utf-8", "replace"
        )
    except (binascii.Error, ValueError):
        return ""


def answer_text(response: httpx.Response) -> str:
    """Everything the caller receives: headers, body and what the cursors encode."""
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return f"{headers}\n{response.text}\n{_decoded_cursors(_body(response))}"


def leaks(response: httpx.Response, forbidden: dict[str, str], asked: str) -> list[str]:
    """Forbidden canaries in the answer; a caller's own input echoed back is not a leak."""
    text = answer_text(response)
    return [
        f"leaks {what} ({canary})"
        for canary, what in forbidden.items()
        if canary in text and canary not in asked
    ]


def _swapped(text: str, pairs: Sequence[tuple[str, str]]) -> str:
    for hidden, twin in pairs:
        text = text.replace(hidden, "<ref>").replace(twin, "<ref>")
    return text


def indistinguishable(
    hidden: httpx.Response, twin: httpx.Response, pairs: Sequence[tuple[str, str]]
) -> list[str]:
    """A hidden record's answer must equal a non-existent one's, byte for byte but the ref."""
    failures = equal("status vs non-existent", hidden.status_code, twin.status_code)
    if hidden.request.method == "GET" and hidden.status_code != 404:
        failures.append(f"hidden record answered {hidden.status_code}, not 404")
    names = [{k for k in r.headers if k not in _VOLATILE_HEADERS} for r in (hidden, twin)]
    failures += equal("header names vs non-existent", names[0], names[1])
    for name in names[0] & names[1]:
        if name not in ("x-ratelimit-limit",):
            got, expected = (_swapped(r.headers[name], pairs) for r in (hidden, twin))
            failures += equal(f"header {name} vs non-existent", got, expected)
    failures += equal(
        "body vs non-existent", _swapped(hidden.text, pairs), _swapped(twin.text, pairs)
    )
    return failures


async def check(
    gateway: httpx.AsyncClient, world: World, caller: str, probe: Probe, outcome: Outcome
) -> None:
    """Sends one probe (and its twin, and its further cursor pages), recording failures."""
    forbidden = world.forbidden(caller, single_read=probe.single_read)
    headers = {**world.headers[caller], **probe.headers}
    if probe.twin is not None:
        headers["X-Request-ID"] = TWIN_REQUEST_ID
    params = dict(probe.params)
    walked: list[dict[str, Any]] = []
    where = f"{caller} {probe.method} {probe.url} {probe.params or ''}"
    while True:
        response = await gateway.request(probe.method, probe.url, params=params, headers=headers)
        outcome.requests += 1
        asked = f"{probe.url} {params}"
        failures = leaks(response, forbidden, asked)
        body = _body(response)
        if not probe.follow_cursor:
            break
        if response.status_code != 200:
            failures.append(f"cursor page: status {response.status_code}")
            break
        walked += body["results"]
        outcome.failures += [f"{where}: {f}" for f in failures]
        cursor = body["meta"].get("next_cursor")
        if not cursor or len(walked) > 200:
            failures = _walk_expectation(world, caller, probe, walked)
            break
        params["cursor"] = cursor
    if probe.expect is not None:
        failures += probe.expect(response)
    if probe.twin is not None:
        twin_url, pairs = probe.twin
        twin = await gateway.request(probe.method, twin_url, params=probe.params, headers=headers)
        outcome.requests += 1
        failures += indistinguishable(response, twin, pairs)
    outcome.failures += [f"{where}: {f}" for f in failures]


def _walk_expectation(
    world: World, caller: str, probe: Probe, walked: list[dict[str, Any]]
) -> list[str]:
    """A full cursor walk returns every visible record of the route exactly once."""
    got = [r["id"] for r in walked]
    failures = equal("walk repeats", len(got), len(set(got)))
    outcomes = {o.id for o in world.outcomes}
    expected = {o.id for o in world.visible_outcomes(caller)}
    events = {e.id for e in world.visible_events(caller)}
    if probe.route == "/api/v1/search":
        expected |= {world.institution["id"], world.child["id"], world.expert["id"], *events}
        return failures + equal("walked", set(got), expected)
    if probe.route == "/api/v1/events" or probe.route.endswith("/events"):
        return failures + equal("walked events", set(got), events)
    return failures + equal("walked outcomes", set(got) & outcomes, expected)
