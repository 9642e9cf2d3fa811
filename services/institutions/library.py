"""The institution library (机构库), declared once (kernel/library.py)."""

from __future__ import annotations

from services.kernel.library import LibraryFacts
from services.kernel.library import Link

LIBRARY = LibraryFacts(
    name="institutions",
    label="机构库",
    id_prefix="ins",
    port=8101,
    all_public=True,
    external_ids=("ror:03cve4549", "uscc:12100000400000624D"),
    # An institution's children: `/institutions/{id}/children` (their documents copy no name).
    links=(Link("institutions", "parent_id", "parent_id", route="children", joins_name=False),),
    refuse_referenced_deletes=True,
)
