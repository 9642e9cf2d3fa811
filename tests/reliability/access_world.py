"""The seeded world of the access sweep: callers, the visibility rule, and canary records.

Every record carries unique canary strings (fixed width, so none is a substring of another)
in its title, abstract, keywords, series, DOI and restricted fields. Which canaries a caller
may meet is written out here from DESIGN.md ("Roles"), independently of the production rule,
so a leak shows up as a canary in a response where `forbidden()` says it must not be.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import httpx

LEVELS = ("public", "partner", "internal")
ORGS = ("cast", "csae")
# caller -> (role, org); anonymous has no key.
CALLERS: dict[str, tuple[str | None, str | None]] = {
    "anonymous": (None, None),
    "reader_cast": ("reader", "cast"),
    "reader_csae": ("reader", "csae"),
    "editor_cast": ("editor", "cast"),
    "admin": ("admin", None),
}


def sees(caller: str, visibility: str, owner_org: str) -> bool:
    """DESIGN.md: anonymous sees public; keys see public, partner and their org's internal."""
    role, org = CALLERS[caller]
    if role == "admin":
        return True
    if role is None:
        return visibility == "public"
    return visibility in ("public", "partner") or owner_org == org


def sees_expert_contact(caller: str) -> bool:
    """Expert email/phone: single reads by reader keys and above."""
    return CALLERS[caller][0] is not None


def sees_dataset_restricted(caller: str, record_owner: str) -> bool:
    """Restricted dataset values: admins and the owning organisation's editors."""
    role, org = CALLERS[caller]
    return role == "admin" or (role == "editor" and org == record_owner)


@dataclass
class Outcome:
    id: str
    level: str
    org: str
    title: str  # the title canary (the title starts with it)
    abstract: str
    keyword: str
    series: str
    doi: str

    @property
    def canaries(self) -> tuple[str, ...]:
        return (self.id, self.title, self.abstract, self.keyword, self.series, self.doi)


@dataclass
class Event:
    id: str
    level: str
    org: str
    title: str  # the title canary (the title starts with it)
    keyword: str
    series: str

    @property
    def canaries(self) -> tuple[str, ...]:
        return (self.id, self.title, self.keyword, self.series)


@dataclass
class DatasetRecord:
    id: str
    org: str
    title: str
    topic: str
    contact: str  # a restricted field's value


@dataclass
class Dataset:
    slug: str
    level: str
    org: str
    name: str
    records: list[DatasetRecord] = field(default_factory=list)

    @property
    def canaries(self) -> tuple[str, ...]:
        found = [self.slug, self.name]
        for r in self.records:
            found += [r.id, r.title, r.topic, r.contact]
        return tuple(found)


@dataclass
class World:
    run: str
    institution: dict[str, Any]
    child: dict[str, Any]
    expert: dict[str, Any]
    email: str
    phone: str
    outcomes: list[Outcome]
    events: list[Event]
    datasets: list[Dataset]
    headers: dict[str, dict[str, str]]
    key_secrets: list[str] = field(default_factory=list)

    def visible_outcomes(self, caller: str) -> list[Outcome]:
        return [o for o in self.outcomes if sees(caller, o.level, o.org)]

    def visible_events(self, caller: str) -> list[Event]:
        return [e for e in self.events if sees(caller, e.level, e.org)]

    @property
    def named_outcome(self) -> Outcome:
        """The outcome every event names: cast's public one."""
        return next(o for o in self.outcomes if (o.level, o.org) == ("public", "cast"))

    def visible_datasets(self, caller: str) -> list[Dataset]:
        return [d for d in self.datasets if sees(caller, d.level, d.org)]

    def key_canaries(self) -> dict[str, str]:
        """Every key secret, its random part and its stored hash: never in any response."""
        found: dict[str, str] = {}
        for secret in self.key_secrets:
            found[secret] = "an API key secret"
            found[secret[len("zhk_") + 21 :]] = "the random part of an API key secret"
            found[hashlib.sha256(secret.encode()).hexdigest()] = "an API key's stored hash"
        return found

    def forbidden(self, caller: str, *, single_read: bool) -> dict[str, str]:
        """Canary -> what it is, for every string `caller` must not meet in a response.

        Search-index routes never carry restricted fields, for anyone (they are not indexed);
        single reads carry them to the roles allowed to see them.
        """
        found = self.key_canaries()
        for o in self.outcomes:
            if not sees(caller, o.level, o.org):
                found.update(dict.fromkeys(o.canaries, f"{o.level} outcome of {o.org}"))
        for e in self.events:
            if not sees(caller, e.level, e.org):
                found.update(dict.fromkeys(e.canaries, f"{e.level} event of {e.org}"))
        if not (single_read and sees_expert_contact(caller)):
            found[self.email] = "expert email (restricted)"
            found[self.phone] = "expert phone (restricted)"
        for d in self.datasets:
            if not sees(caller, d.level, d.org):
                found.update(dict.fromkeys(d.canaries, f"{d.level} dataset of {d.org}"))
                continue
            for r in d.records:
                if not (single_read and sees_dataset_restricted(caller, r.org)):
                    found[r.contact] = f"restricted dataset value of {r.org}"
        return found


class Canaries:
    """Fixed-width unique strings: `zq` + kind letter + two digits + `x` + run token."""

    def __init__(self) -> None:
        self.run = secrets.token_hex(3)
        self.count = 0

    def __call__(self, kind: str) -> str:
        self.count += 1
        return f"zq{kind}{self.count:02d}x{self.run}"


async def _post(gateway: httpx.AsyncClient, admin: dict[str, str], path: str, body: dict) -> dict:
    response = await gateway.post(path, json=body, headers=admin)
    assert response.status_code == 201, (path, response.text)
    return dict(response.json())


DATASET_FIELDS = [
    {"name": "title", "label": "题名", "type": "text", "required": True},
    {"name": "topic", "label": "主题", "type": "keyword", "facetable": True, "filterable": True},
    {"name": "contact", "label": "联系人", "type": "keyword", "restricted": True},
]
# (visibility, owner) of each special database: every level, and both owners of internal.
DATASET_KINDS = (
    ("public", "cast"),
    ("partner", "csae"),
    ("internal", "cast"),
    ("internal", "csae"),
)


async def seed(
    gateway: httpx.AsyncClient, headers: dict[str, dict[str, str]], key_secrets: list[str]
) -> World:
    """Seeds through the gateway as admin: institutions, one expert, 6 outcomes, 6 events,
    4 datasets."""
    canary = Canaries()
    admin = headers["admin"]
    institution = await _post(
        gateway,
        admin,
        "/api/v1/institutions",
        {"name": f"访问测试大学{canary.run}", "type": "university", "owner_org": "cast"},
    )
    child = await _post(
        gateway,
        admin,
        "/api/v1/institutions",
        {"name": f"访问测试大学{canary.run}医学部", "parent_id": institution["id"]},
    )
    email = f"{canary('e')}@example.cn"
    phone = f"+86 139 {secrets.randbelow(10**4):04d} {secrets.randbelow(10**4):04d}"
    expert = await _post(
        gateway,
        admin,
        "/api/v1/experts",
        {
            "name": "钱访问",
            "email": email,
            "phone": phone,
            "affiliations": [{"institution_id": institution["id"]}],
            "owner_org": "cast",
        },
    )
    read_back = await gateway.get(f"/api/v1/experts/{expert['id']}", headers=admin)
    phone = read_back.json()["phone"]  # as stored (normalised), which is what could leak
    outcomes = []
    for level in LEVELS:
        for org in ORGS:
            title, abstract, keyword = canary("t"), canary("a"), canary("k")
            series, doi = canary("s"), f"10.99999/{canary('d')}"
            created = await _post(
                gateway,
                admin,
                "/api/v1/outcomes",
                {
                    "title": f"{title} 关于科技治理的建议",
                    "abstract": f"本文讨论 {abstract} 对科技治理的影响。",
                    "keywords": [keyword, "科技治理"],
                    "series": series,
                    "doi": doi,
                    "type": "policy_brief",
                    "published_on": "2024-05-01",
                    "visibility": level,
                    "owner_org": org,
                    "authors": [{"expert_id": expert["id"]}],
                    "institution_ids": [institution["id"]],
                },
            )
            outcomes.append(
                Outcome(created["id"], level, org, title, abstract, keyword, series, doi)
            )
    named = next(o for o in outcomes if (o.level, o.org) == ("public", "cast"))
    events = []
    for level in LEVELS:
        for org in ORGS:
            title, keyword, series = canary("g"), canary("w"), canary("m")
            created = await _post(
                gateway,
                admin,
                "/api/v1/events",
                {
                    "title": f"{title} 科技治理座谈会",
                    "kind": "symposium",
                    "series": series,
                    "series_number": 1,
                    "starts_on": "2024-05-10",
                    "keywords": [keyword],
                    "organiser_ids": [institution["id"]],
                    "participants": [{"expert_id": expert["id"], "role": "speaker"}],
                    "outcome_ids": [named.id],
                    "visibility": level,
                    "owner_org": org,
                },
            )
            events.append(Event(created["id"], level, org, title, keyword, series))
    datasets = []
    for level, org in DATASET_KINDS:
        dataset = Dataset(f"acc-{level}-{org}-{canary.run}", level, org, canary("n"))
        await _post(
            gateway,
            admin,
            "/api/v1/datasets",
            {
                "slug": dataset.slug,
                "name": f"访问测试库 {dataset.name}",
                "visibility": level,
                "owner_org": org,
                "title_field": "title",
                "fields": DATASET_FIELDS,
            },
        )
        for record_org in ORGS:
            title, topic, contact = canary("r"), canary("v"), canary("c")
            record = await _post(
                gateway,
                admin,
                f"/api/v1/datasets/{dataset.slug}/records",
                {
                    "values": {"title": f"{title} 前沿问题", "topic": topic, "contact": contact},
                    "owner_org": record_org,
                },
            )
            dataset.records.append(DatasetRecord(record["id"], record_org, title, topic, contact))
        datasets.append(dataset)
    return World(
        run=canary.run,
        institution=institution,
        child=child,
        expert=expert,
        email=email,
        phone=phone,
        outcomes=outcomes,
        events=events,
        datasets=datasets,
        headers=headers,
        key_secrets=key_secrets,
    )
