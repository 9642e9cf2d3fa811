"""The expert library (专家库), declared once (kernel/library.py)."""

from __future__ import annotations

from services.kernel.library import LibraryFacts
from services.kernel.library import Link

LIBRARY = LibraryFacts(
    name="experts",
    label="专家库",
    id_prefix="exp",
    port=8102,
    all_public=True,
    external_ids=("orcid:0000-0002-1825-0097",),
    links=(Link("institutions", "institution_ids", "institution", route="experts"),),
)
