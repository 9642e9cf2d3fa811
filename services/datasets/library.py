"""The special databases (特色数据库), declared once (kernel/library.py).

Each special database defines its own fields, so its records are served by the datasets
routes (`/api/v1/datasets/{slug}/records`), not as one record library.
"""

from __future__ import annotations

from services.kernel.library import LibraryFacts

LIBRARY = LibraryFacts(
    name="datasets",
    label="特色数据库",
    id_prefix="dst",
    port=8104,
    record_library=False,
    other_prefixes=("dsr",),
    # `ref:<library>` fields name any record library's records (institutions, experts, …).
    open_references=True,
)
