"""Opaque cursors and record IDs."""

from __future__ import annotations

import pytest

from services.kernel.errors import BadRequest
from services.kernel.pagination import decode_cursor
from services.kernel.pagination import encode_cursor
from services.kernel.record_ids import is_id
from services.kernel.record_ids import new_id


def test_cursor_round_trips_and_rejects_tampering() -> None:
    position = {"after": "ins_01", "n": 3}
    assert decode_cursor(encode_cursor(position)) == position
    for bad in ("not-base64!!", encode_cursor({"x": 1})[:-3] + "@@@", "WzEsMl0"):
        with pytest.raises(BadRequest):
            decode_cursor(bad)


def test_ids_are_prefixed_unique_and_time_ordered() -> None:
    ids = [new_id("ins") for _ in range(200)]
    assert len(set(ids)) == 200 and all(is_id(i, "ins") for i in ids)
    assert not is_id(ids[0], "exp") and not is_id("ins_../../etc", "ins")
    assert [i[4:14] for i in ids] == sorted(i[4:14] for i in ids)
