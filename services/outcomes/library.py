"""The outcome library (成果库), declared once (kernel/library.py)."""

from __future__ import annotations

from services.kernel.library import LibraryFacts
from services.kernel.library import Link

LIBRARY = LibraryFacts(
    name="outcomes",
    label="成果库",
    id_prefix="out",
    port=8103,
    external_ids=("doi:10.1234/abc",),
    links=(
        Link("institutions", "institution_ids", "institution", route="outcomes"),
        Link("experts", "author_expert_ids", "author", route="outcomes"),
    ),
)
