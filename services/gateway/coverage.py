"""The gateway's start-up check: every declared record library is served in full.

A library declared (kernel/library.py) but missing its routes, its search fields or its
document builder would otherwise be served half: wrong documents, or routes without search.
The gateway refuses to start instead, naming what is missing.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import Sequence

from services.gateway.libraries import LIBRARIES
from services.gateway.libraries import Library
from services.gateway.search.libraries import LIBRARY_SEARCHES
from services.gateway.search.model import LibrarySearch
from services.kernel.library import LibraryDeclarationError
from services.kernel.library import LibraryFacts
from services.kernel.library import record_libraries


def missing_parts(
    declared: Sequence[LibraryFacts],
    routes: Collection[Library],
    searches: Mapping[str, LibrarySearch],
) -> list[str]:
    """What each declared record library lacks on the gateway, as sentences."""
    served = {library.name for library in routes}
    missing: list[str] = []
    for facts in declared:
        where = f"library {facts.name!r}"
        if facts.name not in served:
            missing.append(
                f"{where}: no record routes (services/{facts.name}/main.py: "
                "SERVICE = LibraryService.of(…, ROUTES))"
            )
        search = searches.get(facts.name)
        if search is None:
            missing.append(
                f"{where}: no search fields or documents "
                f"(services/gateway/search/libraries/{facts.name}.py)"
            )
            continue
        schema = search.schema
        for link in facts.links:
            field = schema.fields.get(link.filter_field)
            if field is None:
                missing.append(
                    f"{where}: its link to {link.target} filters on {link.filter_field!r}, "
                    "which its search fields do not declare"
                )
            elif field.ref != link.target:
                missing.append(
                    f"{where}: search field {link.filter_field!r} must say "
                    f"ref={link.target!r} (its values are {link.target} IDs)"
                )
    return missing


def check_libraries() -> None:
    """Refuse to start when a declared record library is only partly served."""
    missing = missing_parts(record_libraries(), LIBRARIES, LIBRARY_SEARCHES)
    if missing:
        raise LibraryDeclarationError("; ".join(missing))
