"""The hostile-input corpus: requests a careless or malicious caller sends, and the answer each
must get. Body-level entries go over ASGI (`HOSTILE_REQUESTS`); header-level ones need a real
HTTP server and are raw bytes (`RAW_REQUESTS`).

Expected answers, per kind of input:
* broken or oversized bodies, bad numbers, bad characters in text fields: a 4xx problem+json
  (naming the field where there is one) and nothing written;
* hostile *search text* (Lucene/ES syntax, SQL): a normal 200 — it is only ever text, so the
  hits are text matches: none of the seeded records contains these words, so there are none;
  the same strings in `filter` or `sort`, which have a grammar, are a 400 naming the parameter;
* path traversal in IDs and slugs: a 404 (or the 400/422 of a malformed ID), never another
  resource's answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field

INSTITUTIONS = "/api/v1/institutions"
KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Hostile:
    """One request; `{institution}`, `{dataset}`… in `path` are the seeded records' IDs."""

    name: str
    method: str
    path: str
    status: tuple[int, ...]
    caller: str = "admin"
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    # An error entry (or the detail) must name this field.
    field: str | None = None
    # A 200 is a search answer whose hits must all be text matches (there are none).
    search_text: bool = False
    # Send the seeded record's current ETag as If-Match, so only the input can be refused.
    if_match: str | None = None


def body(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _nested(depth: int) -> bytes:
    return b'{"name": "\xe6\xb7\xb1", "tags": ' + b"[" * depth + b"]" * depth + b"}"


VALID = {"name": "敌意测试大学", "type": "university"}
# Strings that are query syntax somewhere (Lucene, Elasticsearch DSL, FTS5, SQL).
SYNTAX = {
    "lucene-field-wildcard": "title:*",
    "lucene-unbalanced": "a AND (b",
    "lucene-backslash": "\\",
    "lucene-regex": "/.*/",
    "es-query-dsl": '{"query":{"match_all":{}}}',
    "sql-or-true": "' OR 1=1 --",
    "sql-drop-table": "x'; DROP TABLE institutions; --",
    "fts5-near": 'NEAR("a" "b")',
}
JSON = {"Content-Type": "application/json"}


def _post(name: str, status: tuple[int, ...], content: bytes, fld: str | None = None) -> Hostile:
    return Hostile(name, "POST", INSTITUTIONS, status, content=content, headers=JSON, field=fld)


def _create(name: str, changes: dict[str, object], fld: str | None = None) -> Hostile:
    """A create that is valid but for `changes`: a 422 naming `fld`."""
    return _post(name, (422,), body({**VALID, **changes}), fld)


def _patch(name: str, status: tuple[int, ...], changes: dict[str, object], fld: str | None = None):  # type: ignore[no-untyped-def]
    path = "{institution_path}"
    return Hostile(
        name,
        "PATCH",
        path,
        status,
        content=body(changes),
        headers=JSON,
        field=fld,
        if_match="institution",
    )


def _body_cases() -> list[Hostile]:
    return [
        _post("body-2mib", (413,), body({**VALID, "x": "中" * MIB})),
        _post("body-nested-10000", (400, 422), _nested(10_000)),
        _post("body-nested-100000-raw", (400, 422), b"[" * 100_000 + b"]" * 100_000),
        _post("body-invalid-utf8", (400,), b'{"name": "\xff\xfe\xfd", "type": "university"}'),
        _post("body-truncated", (400,), b'{"name": "abc'),
        _post("body-not-an-object", (422,), b'"just a string"'),
        _post(
            "body-nan-literal",
            (400, 422),
            b'{"name": "x", "type": "university", "established_year": NaN}',
        ),
        _post(
            "body-infinity-literal",
            (400, 422),
            b'{"name": "x", "type": "university", "established_year": -Infinity}',
        ),
        _post(
            "body-1e999",
            (400, 422),
            b'{"name": "x", "type": "university", "established_year": 1e999}',
        ),
        _create("body-nul-in-name", {"name": "清华\0大学"}, "name"),
        _create("body-bell-in-name", {"name": "清华\a大学"}, "name"),
        _create("body-bidi-override", {"name": "学大\u202e华清"}, "name"),
        _create("body-bidi-isolate", {"name": "清华\u2066大学"}, "name"),
        _create("body-long-chinese-name", {"name": "研" * 5000}, "name"),
        _create("body-long-chinese-city", {"city": "北" * 10_000}, "city"),
        _create("body-huge-int", {"established_year": 10**40}, "established_year"),
        _create("body-min-int64", {"established_year": -(2**63)}, "established_year"),
        _create("body-owner-operator", {"owner_org": {"$ne": None}}, "owner_org"),
        _create("body-owner-sql", {"owner_org": "cast'; DROP TABLE x;--"}, "owner_org"),
        _create("body-type-sql", {"type": "university' OR '1'='1"}, "type"),
        _create("body-unknown-field", {"__proto__": {"role": "admin"}}, "__proto__"),
        _patch("patch-nul-in-name", (422,), {"name": "a\0b"}, "name"),
        _patch("patch-2mib", (413,), {"name": "x" * 2 * MIB}),
        _patch("patch-read-only-id", (400, 422), {"id": "ins_other"}, "id"),
        _patch("patch-owner-operator", (422,), {"owner_org": ["cast"]}, "owner_org"),
        Hostile(
            "bulk-invalid-utf8-line",
            "POST",
            f"{INSTITUTIONS}/bulk",
            (200, 400, 422),
            content=b'{"name": "\xff", "source": "h", "external_id": "1"}\n',
            headers={"Content-Type": "application/x-ndjson"},
        ),
    ]


def _query_cases() -> list[Hostile]:
    cases = []
    for name, text in SYNTAX.items():
        for route, param, status in (
            (INSTITUTIONS, "q", 200),
            ("/api/v1/search", "q", 200),
            ("/api/v1/outcomes", "q", 200),
            (INSTITUTIONS, "filter", 400),
            (INSTITUTIONS, "sort", 400),
        ):
            cases.append(
                Hostile(
                    f"{param}-{name}{'-search' if 'search' in route else ''}"
                    + ("-outcomes" if "outcomes" in route else ""),
                    "GET",
                    route,
                    (status,),
                    "anonymous",
                    params={param: text},
                    field=None if status == 200 else param,
                    search_text=status == 200,
                )
            )
    raw = [
        ("q-invalid-utf8", f"{INSTITUTIONS}?q=%FF%FE%FD", (200, 400), None),
        ("q-nul", f"{INSTITUTIONS}?q=a%00b", (200, 400), None),
        ("q-bidi", f"{INSTITUTIONS}?q=%E2%80%AEabc", (200, 400), None),
        ("q-3000-chinese", f"{INSTITUTIONS}?q={'%E4%B8%AD' * 3000}", (400, 422), "q"),
        ("filter-invalid-utf8", f"{INSTITUTIONS}?filter=type:%FF", (200, 400), "filter"),
        ("page-size-negative", f"{INSTITUTIONS}?page_size=-1", (422,), "page_size"),
        ("page-size-huge", f"{INSTITUTIONS}?page_size={10**30}", (422,), "page_size"),
        ("page-nan", f"{INSTITUTIONS}?page=NaN", (422,), "page"),
        ("page-infinity", f"{INSTITUTIONS}?page=Infinity", (422,), "page"),
        ("page-deep", f"{INSTITUTIONS}?page=100000&page_size=100", (400, 422), "page"),
        ("cursor-garbage", f"{INSTITUTIONS}?cursor=%7B%22query%22%3A1%7D", (400,), "cursor"),
        ("autocomplete-empty", "/api/v1/autocomplete?q=", (422,), "q"),
        ("stats-traversal", "/api/v1/stats/..%2F..%2Finternal", (404,), None),
        ("match-sql", "/api/v1/institutions/match?affiliation=%27%20OR%201%3D1%20--", (200,), None),
    ]
    for name, path, status, fld in raw:
        cases.append(
            Hostile(name, "GET", path, status, "anonymous", field=fld, search_text=200 in status)
        )
    return cases


def _path_cases() -> list[Hostile]:
    traversals = {
        "id-dotdot-encoded": f"{INSTITUTIONS}/%2e%2e",
        "id-dotdot-slash-encoded": f"{INSTITUTIONS}/..%2F..%2Finternal%2Fchanges",
        "id-query-injection": f"{INSTITUTIONS}/x%3Fafter%3D0",
        "id-fragment": f"{INSTITUTIONS}/x%23y",
        "id-nul": f"{INSTITUTIONS}/ins_%00",
        "id-backslash": f"{INSTITUTIONS}/..%5C..%5Cinternal",
        "id-double-encoded": f"{INSTITUTIONS}/%252e%252e%252f",
        "id-overlong": f"{INSTITUTIONS}/{'a' * 5000}",
        "slug-dotdot": "/api/v1/datasets/%2e%2e",
        "slug-nul": "/api/v1/datasets/a%00b",
        "slug-nul-records": "/api/v1/datasets/a%00b/records/dsr_%00",
        "record-nul": "/api/v1/datasets/{dataset}/records/dsr_%00",
        "expert-id-nul": "/api/v1/experts/exp_%00",
        "outcome-doi-nul": "/api/v1/outcomes/doi:10.1%00/x",
        "slug-passwd": "/api/v1/datasets/..%2F..%2F..%2Fetc%2Fpasswd",
        "slug-dotdot-records": "/api/v1/datasets/%2e%2e/records",
        "record-dotdot-is-not-the-dataset": "/api/v1/datasets/{dataset}/records/%2e%2e",
        "record-dot-is-not-the-list": "/api/v1/datasets/{dataset}/records/%2e",
        "outcome-dotdot": "/api/v1/outcomes/%2E%2E",
    }
    cases = [Hostile(n, "GET", p, (400, 404, 422), "anonymous") for n, p in traversals.items()]
    # A write through a dotted ID must not land on the dataset definition it would resolve to.
    cases.append(
        Hostile(
            "patch-record-dotdot-targets-definition",
            "PATCH",
            "/api/v1/datasets/{dataset}/records/%2e%2e",
            (400, 404, 422),
            "editor",
            content=body({"description": "被篡改"}),
            headers=JSON,
            if_match="dataset",
        )
    )
    cases.append(
        Hostile(
            "delete-institution-dotdot",
            "DELETE",
            f"{INSTITUTIONS}/{{institution}}/%2e%2e",
            (404, 405),
            "admin",
            if_match="institution",
        )
    )
    return cases


def _request_id_cases() -> list[Hostile]:
    return [
        Hostile(
            "request-id-10k",
            "GET",
            "/healthz",
            (200,),
            "anonymous",
            headers={"X-Request-ID": "a" * 10_000},
        ),
        Hostile(
            "request-id-spaces",
            "GET",
            "/healthz",
            (200,),
            "anonymous",
            headers={"X-Request-ID": "a b; c=d"},
        ),
    ]


HOSTILE_REQUESTS: list[Hostile] = [
    *_body_cases(),
    *_query_cases(),
    *_path_cases(),
    *_request_id_cases(),
]
