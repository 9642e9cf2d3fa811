"""Each record library's search facts, one module per library (`SEARCH = LibrarySearch(…)`).

Found here by name, like the libraries themselves (kernel/library.py): adding a library adds
a module to this folder and edits no list. The gateway refuses to start when a declared
record library has no module here (gateway/coverage.py).
"""

from __future__ import annotations

import importlib
import pkgutil

from services.gateway.search.model import LibrarySchema
from services.gateway.search.model import LibrarySearch
from services.kernel.library import LibraryDeclarationError


def _declared_searches() -> dict[str, LibrarySearch]:
    found: dict[str, LibrarySearch] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        search = getattr(module, "SEARCH", None)
        if not isinstance(search, LibrarySearch) or search.schema.name != module_info.name:
            raise LibraryDeclarationError(
                f"services/gateway/search/libraries/{module_info.name}.py must define "
                f"SEARCH = LibrarySearch(…) for the library {module_info.name!r}"
            )
        found[module_info.name] = search
    return found


LIBRARY_SEARCHES: dict[str, LibrarySearch] = _declared_searches()
LIBRARY_SCHEMAS: dict[str, LibrarySchema] = {
    name: search.schema for name, search in LIBRARY_SEARCHES.items()
}
