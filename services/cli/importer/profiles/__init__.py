"""Each record library's import profile, one module per library (`PROFILE = Profile(…)`).

Found here by name like the libraries themselves (kernel/library.py): a library with a module
here can be imported with `zhihui import <library>`; special databases get theirs from their
definitions (`mapping.dataset_profile`).
"""

from __future__ import annotations

import importlib
import pkgutil

from services.cli.importer.mapping import Profile
from services.kernel.library import LibraryDeclarationError
from services.kernel.library import declared_libraries


def _declared_profiles() -> dict[str, Profile]:
    found: dict[str, Profile] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        profile = getattr(module, "PROFILE", None)
        if not isinstance(profile, Profile) or profile.library != module_info.name:
            raise LibraryDeclarationError(
                f"services/cli/importer/profiles/{module_info.name}.py must define "
                f"PROFILE = Profile(…) for the library {module_info.name!r}"
            )
        found[module_info.name] = profile
    return found


_FOUND = _declared_profiles()
# In the libraries' start order (institutions first, as an import should go).
PROFILES: dict[str, Profile] = {
    library.name: _FOUND[library.name] for library in declared_libraries() if library.name in _FOUND
}
LIBRARY_CHOICES: tuple[str, ...] = (*PROFILES, "datasets/SLUG")
