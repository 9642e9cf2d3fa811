"""A library declared once: its name, label, IDs, port, external IDs and links to others.

Each domain package has a `library.py` holding one `LibraryFacts` (and nothing that imports
the rest of the package), so its config, models, routes and the gateway can all read it.
The lists that used to be kept by hand — the services `zhihui` runs, default ports, peer
URLs, the indexer's feeds, the gateway's related-record routes, the indexer's rename fan-out,
the special databases' `ref:` types — are derived from the declarations found by
`declared_libraries()`; see docs/adding-a-library.md.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from types import ModuleType

import services

_NAME = re.compile(r"^[a-z][a-z_]{1,30}$")
_PREFIX = re.compile(r"^[a-z]{2,4}$")


@dataclass(frozen=True, slots=True)
class Link:
    """Records of the declaring library name records of `target` (their IDs)."""

    target: str
    # Where the IDs stand in the declaring library's change-feed document, e.g. `institution_ids`.
    document_key: str
    # The declaring library's search filter on those IDs, e.g. `institution`.
    filter_field: str
    # The target's related-records route: `/{target}/{id}/{route}` lists the declaring
    # library's records that name it (`/institutions/{id}/experts`).
    route: str
    # Whether the target's records copy this record's name into their documents' joins
    # (a rename of the target re-builds the declaring library's documents that name it).
    joins_name: bool = True


@dataclass(frozen=True, slots=True)
class LibraryFacts:
    """What the platform needs to know about a library before it loads any of its code."""

    name: str  # path segment, change feed and service name: `experts`
    label: str  # what users read: 专家库
    id_prefix: str  # `exp` in `exp_…`
    port: int  # where its service listens by default
    # External ID schemes a record may be addressed by, as examples: `orcid:0000-…`.
    external_ids: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    # Whether the gateway serves it as a record library at `/api/v1/{name}` (the special
    # databases are served per database by their own routes).
    record_library: bool = True
    # Other ID prefixes its service hands out (a special database's records: `dsr`).
    other_prefixes: tuple[str, ...] = ()
    # Its records may name records of any record library through fields not declared as
    # links (a special database's `ref:` fields): it checks them, and is asked before one goes.
    open_references: bool = False
    # Every record is public (no visibility of its own): names may label other records' facets.
    all_public: bool = False
    # A record still named by live records elsewhere is not deleted (409 naming them).
    refuse_referenced_deletes: bool = False
    # One record in the change feed and in messages: the name without its plural `s`.
    entity: str = ""

    def __post_init__(self) -> None:
        if not self.entity:
            object.__setattr__(self, "entity", self.name.removesuffix("s"))
        problems = []
        if not _NAME.match(self.name):
            problems.append(f"name {self.name!r} is not a lower-case word")
        if not _PREFIX.match(self.id_prefix):
            problems.append(f"id_prefix {self.id_prefix!r} is not 2 to 4 lower-case letters")
        if not self.label:
            problems.append("label is empty")
        if problems:
            raise LibraryDeclarationError(f"library {self.name!r}: " + "; ".join(problems))

    def links_to(self, target: str) -> tuple[Link, ...]:
        return tuple(link for link in self.links if link.target == target)


class LibraryDeclarationError(RuntimeError):
    """A library's declaration is missing, half-written or contradicts another's."""


# The packages below `services` that are not libraries (no `library.py` to look for).
_NOT_LIBRARIES = frozenset({"kernel", "gateway", "cli", "vocabularies"})


def _library_module(package: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"services.{package}.library")
    except ModuleNotFoundError as exc:
        if exc.name == f"services.{package}.library":
            return None
        raise


@cache
def declared_libraries() -> tuple[LibraryFacts, ...]:
    """Every library declared below `services/`, in start order; checked against each other."""
    found: list[LibraryFacts] = []
    for module_info in pkgutil.iter_modules(services.__path__):
        if not module_info.ispkg or module_info.name in _NOT_LIBRARIES:
            continue
        module = _library_module(module_info.name)
        if module is None:
            continue
        facts = getattr(module, "LIBRARY", None)
        if not isinstance(facts, LibraryFacts):
            raise LibraryDeclarationError(
                f"services/{module_info.name}/library.py must define LIBRARY = LibraryFacts(…)"
            )
        if facts.name != module_info.name:
            raise LibraryDeclarationError(
                f"services/{module_info.name}/library.py declares {facts.name!r}; "
                f"a library is declared in the package of its name"
            )
        found.append(facts)
    check_declarations(tuple(found))
    return start_order(found)


def start_order(libraries: Iterable[LibraryFacts]) -> tuple[LibraryFacts, ...]:
    """Each library after those its records name (so after what it checks references
    against), one with `ref:` fields after every record library; by port among equals."""
    waiting = sorted(libraries, key=lambda f: f.port)
    started: list[LibraryFacts] = []

    def ready(facts: LibraryFacts) -> bool:
        named = {link.target for link in facts.links} - {facts.name}
        if facts.open_references:
            named |= {f.name for f in waiting if f.record_library and f is not facts}
        return not named & {f.name for f in waiting}

    while waiting:
        next_up = next((facts for facts in waiting if ready(facts)), None)
        if next_up is None:
            names = ", ".join(f.name for f in waiting)
            raise LibraryDeclarationError(
                f"library declarations: {names} name each other in a cycle, so none can start "
                "first; drop one of the links"
            )
        waiting.remove(next_up)
        started.append(next_up)
    return tuple(started)


def check_declarations(libraries: tuple[LibraryFacts, ...]) -> None:
    """Names, prefixes and ports are unique, every link names a declared library, and the
    links leave a start order."""
    problems: list[str] = []
    for attribute in ("name", "entity", "port"):
        seen: dict[object, str] = {}
        for facts in libraries:
            value = getattr(facts, attribute)
            if value in seen:
                problems.append(f"{facts.name} and {seen[value]} both have {attribute} {value!r}")
            seen[value] = facts.name
    prefixes: dict[str, str] = {}
    for facts in libraries:
        for prefix in (facts.id_prefix, *facts.other_prefixes):
            if prefix in prefixes:
                problems.append(f"{facts.name} and {prefixes[prefix]} both use prefix {prefix!r}")
            prefixes[prefix] = facts.name
    names = {facts.name: facts for facts in libraries}
    routes: dict[tuple[str, str], str] = {}
    for facts in libraries:
        for link in facts.links:
            target = names.get(link.target)
            if target is None:
                problems.append(f"{facts.name} links to {link.target!r}, which is not declared")
            key = (link.target, link.route)
            if key in routes:
                problems.append(
                    f"/{link.target}/{{id}}/{link.route} is claimed by {facts.name} "
                    f"and {routes[key]}"
                )
            routes[key] = facts.name
    if problems:
        raise LibraryDeclarationError("library declarations: " + "; ".join(problems))
    start_order(libraries)


def library_named(name: str) -> LibraryFacts:
    for facts in declared_libraries():
        if facts.name == name:
            return facts
    known = ", ".join(f.name for f in declared_libraries())
    raise LibraryDeclarationError(f"no library {name!r} is declared (declared: {known})")


def record_libraries() -> tuple[LibraryFacts, ...]:
    """The libraries served record by record at `/api/v1/{name}`."""
    return tuple(f for f in declared_libraries() if f.record_library)


def referring_libraries(target: str) -> tuple[LibraryFacts, ...]:
    """The other libraries whose records may name records of `target` (link or `ref:` field)."""
    return tuple(
        facts
        for facts in declared_libraries()
        if facts.name != target and (facts.links_to(target) or facts.open_references)
    )


def peers_of(library: LibraryFacts) -> tuple[str, ...]:
    """The libraries whose services `library`'s service calls: those its records name (to
    check they exist) and, if it refuses deletes of referenced records, those naming it."""
    peers = {link.target for link in library.links}
    if library.open_references:
        peers |= {facts.name for facts in record_libraries()}
    if library.refuse_referenced_deletes:
        peers |= {facts.name for facts in referring_libraries(library.name)}
    peers.discard(library.name)
    return tuple(facts.name for facts in declared_libraries() if facts.name in peers)
