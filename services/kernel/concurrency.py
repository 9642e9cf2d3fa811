"""Optimistic concurrency: ETags derived from record versions, and `If-Match` checks."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Header

from services.kernel.errors import FieldError
from services.kernel.errors import PreconditionFailed
from services.kernel.errors import PreconditionRequired

_ETAG = re.compile(r'^(?:W/)?"v(\d{1,18})"$')

# The header a PATCH or DELETE of a record must send (see `expected_version`).
IfMatch = Annotated[
    str | None, Header(description='ETag from your last GET of the record, e.g. `"v3"`.')
]


def etag_for(version: int) -> str:
    return f'"v{version}"'


def expected_version(if_match: str | None, current_version: int) -> int:
    """The version the caller last saw, from If-Match; 428 if absent, 412 if stale."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            "Send If-Match with the ETag from your last GET of this record "
            "(it protects you from overwriting someone else's change).",
            errors=[FieldError(("header", "If-Match"), "missing", "missing")],
        )
    candidates = [c.strip() for c in if_match.split(",")]
    if "*" in candidates:
        return current_version
    versions = []
    for candidate in candidates:
        match = _ETAG.match(candidate)
        if not match:
            raise PreconditionFailed(
                f"If-Match value {candidate[:40]!r} is not an ETag of this API; "
                'ETags look like "v3" (with the quotes). GET the record again.',
                errors=[FieldError(("header", "If-Match"), "malformed ETag", "value_error")],
            )
        versions.append(int(match.group(1)))
    if current_version not in versions:
        raise_stale(current_version)
    return current_version


def raise_stale(current_version: int) -> None:
    raise PreconditionFailed(
        f"The record is now at version {current_version}; GET it again, re-apply your change "
        "and send the new ETag in If-Match.",
        headers={"ETag": etag_for(current_version)},
    )
