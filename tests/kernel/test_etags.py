"""ETags and If-Match: the version a write may change."""

from __future__ import annotations

import pytest

from services.kernel.concurrency import etag_for
from services.kernel.concurrency import expected_version
from services.kernel.errors import PreconditionFailed
from services.kernel.errors import PreconditionRequired


def test_expected_version_accepts_current_etag_lists_and_star() -> None:
    assert expected_version(etag_for(3), 3) == 3
    assert expected_version('W/"v3"', 3) == 3
    assert expected_version('"v1", "v3"', 3) == 3
    assert expected_version("*", 7) == 7


def test_expected_version_refuses_missing_stale_and_foreign_etags() -> None:
    with pytest.raises(PreconditionRequired):
        expected_version(None, 1)
    with pytest.raises(PreconditionFailed) as stale:
        expected_version('"v2"', 3)
    assert stale.value.headers["ETag"] == '"v3"'
    with pytest.raises(PreconditionFailed, match="not an ETag"):
        expected_version("v3", 3)
