"""Libraries are declared once (kernel/library.py); what is derived from them, and what a
half-declared library is told at start-up."""

from __future__ import annotations

import pytest

from services.gateway.coverage import check_libraries
from services.gateway.coverage import missing_parts
from services.gateway.endpoints.search import RELATED
from services.gateway.indexer.runner import IndexerSettings
from services.gateway.indexer.sink import REFERENCES
from services.gateway.libraries import LIBRARIES
from services.gateway.search.libraries import LIBRARY_SEARCHES
from services.kernel.library import LibraryDeclarationError
from services.kernel.library import LibraryFacts
from services.kernel.library import Link
from services.kernel.library import check_declarations
from services.kernel.library import declared_libraries
from services.kernel.library import library_named
from services.kernel.library import peers_of
from services.kernel.library import referring_libraries
from services.kernel.library import start_order
from services.kernel.settings import peer_base_url
from services.registry import SERVICES


def _facts(name: str, port: int, *links: Link, prefix: str | None = None) -> LibraryFacts:
    return LibraryFacts(
        name=name, label=name, id_prefix=prefix or name[:3], port=9000 + port, links=links
    )


def test_every_library_package_is_found_in_start_order() -> None:
    names = [facts.name for facts in declared_libraries()]
    assert names == ["institutions", "experts", "outcomes", "events", "datasets"]
    assert [spec.name for spec in SERVICES] == names
    assert [spec.settings().port for spec in SERVICES] == [f.port for f in declared_libraries()]


def test_registries_are_derived_from_the_links() -> None:
    assert REFERENCES == {
        "institutions": (
            ("experts", "institution"),
            ("outcomes", "institution"),
            ("events", "organiser"),
        ),
        "experts": (("outcomes", "author"), ("events", "participant")),
    }
    assert RELATED == {
        ("institutions", "children"): ("institutions", "parent_id"),
        ("institutions", "experts"): ("experts", "institution"),
        ("institutions", "outcomes"): ("outcomes", "institution"),
        ("experts", "outcomes"): ("outcomes", "author"),
        ("institutions", "events"): ("events", "organiser"),
        ("experts", "events"): ("events", "participant"),
        ("outcomes", "events"): ("events", "outcome"),
    }
    assert [f.name for f in referring_libraries("institutions")] == [
        "experts",
        "outcomes",
        "events",
        "datasets",
    ]
    peers = {facts.name: peers_of(facts) for facts in declared_libraries()}
    assert peers == {
        "institutions": ("experts", "outcomes", "events", "datasets"),
        "experts": ("institutions",),
        "outcomes": ("institutions", "experts"),
        "events": ("institutions", "experts", "outcomes"),
        "datasets": ("institutions", "experts", "outcomes", "events"),
    }
    assert IndexerSettings().feeds == ["institutions", "experts", "outcomes", "events", "datasets"]


def test_peer_urls_follow_the_peer_declaration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZHIHUI_EXPERTS_URL", raising=False)
    monkeypatch.delenv("ZHIHUI_EXPERTS_PORT", raising=False)
    assert peer_base_url("experts") == f"http://127.0.0.1:{library_named('experts').port}"
    monkeypatch.setenv("ZHIHUI_EXPERTS_PORT", "18102")
    assert peer_base_url("experts") == "http://127.0.0.1:18102"
    outcomes = next(spec for spec in SERVICES if spec.name == "outcomes").settings()
    monkeypatch.setenv("ZHIHUI_OUTCOMES_EXPERTS_URL", "http://experts.internal:8102")
    assert outcomes.peer_url("experts") == "http://experts.internal:8102"
    assert outcomes.peer_url("institutions").endswith(f":{library_named('institutions').port}")


def test_contradicting_declarations_are_refused_with_what_to_fix() -> None:
    institutions = _facts("institutions", 10)
    clash = _facts("insects", 20, prefix="ins")
    with pytest.raises(LibraryDeclarationError, match="both use prefix 'ins'"):
        check_declarations((institutions, clash))
    dangling = _facts("events", 40, Link("venues", "venue_ids", "venue", route="events"))
    with pytest.raises(LibraryDeclarationError, match="links to 'venues', which is not declared"):
        check_declarations((institutions, dangling))
    hosts = _facts("institutions", 10, Link("events", "hosted_ids", "hosted", "hosts"))
    events = _facts("events", 5, Link("institutions", "organiser_ids", "organiser", "events"))
    for pair in ((hosts, events), (events, hosts)):
        with pytest.raises(LibraryDeclarationError, match="events, institutions name each other"):
            check_declarations(pair)
    # Started after what they name, whatever their ports say; `ref:` fields after all.
    datasets = LibraryFacts("datasets", "d", "dst", 9001, open_references=True)
    late = _facts("experts", 99, Link("events", "event_ids", "event", "experts"))
    assert [f.name for f in start_order((datasets, late, events, institutions))] == [
        "institutions",
        "events",
        "experts",
        "datasets",
    ]
    assert LibraryFacts("experts", "专家库", "exp", 1).entity == "expert"
    with pytest.raises(LibraryDeclarationError, match="id_prefix 'EVT'"):
        _facts("events", 40, prefix="EVT")


def test_a_half_declared_library_is_named_with_what_it_lacks() -> None:
    assemblies = _facts("assemblies", 50, Link("institutions", "host_ids", "host", "assemblies"))
    missing = missing_parts((*declared_libraries()[:4], assemblies), LIBRARIES, LIBRARY_SEARCHES)
    assert missing == [
        "library 'assemblies': no record routes (services/assemblies/main.py: "
        "SERVICE = LibraryService.of(…, ROUTES))",
        "library 'assemblies': no search fields or documents "
        "(services/gateway/search/libraries/assemblies.py)",
    ]
    wrong_field = _facts("outcomes", 30, Link("institutions", "organiser_ids", "organiser", "x"))
    assert missing_parts((wrong_field,), LIBRARIES, LIBRARY_SEARCHES) == [
        "library 'outcomes': its link to institutions filters on 'organiser', which its "
        "search fields do not declare"
    ]
    check_libraries()  # the libraries of this tree are whole
