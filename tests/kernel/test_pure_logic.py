"""Pure kernel logic: merge patch, ETags, cursors, IDs, settings, text cleaning, vocabulary."""

from __future__ import annotations

import pytest
from asyncpg.exceptions import (
    CharacterNotInRepertoireError,
    LockNotAvailableError,
    NumericValueOutOfRangeError,
    QueryCanceledError,
)
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from services.kernel.concurrency import etag_for, expected_version
from services.kernel.errors import (
    BadRequest,
    PreconditionFailed,
    PreconditionRequired,
    database_refused_value,
    database_unavailable,
)
from services.kernel.fields import clean_block, clean_line
from services.kernel.merge_patch import apply_merge_patch
from services.kernel.pagination import decode_cursor, encode_cursor
from services.kernel.record_ids import is_id, new_id
from services.kernel.settings import DEFAULT_INTERNAL_TOKEN, Environment, PlatformSettings
from services.vocabularies.disciplines import UnknownDiscipline, disciplines


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc_7396_examples(target: dict, patch: dict, expected: dict) -> None:
    assert apply_merge_patch(target, patch) == expected


def test_merge_patch_does_not_mutate_the_target() -> None:
    target = {"a": {"b": 1}}
    apply_merge_patch(target, {"a": {"b": None}})
    assert target == {"a": {"b": 1}}


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


def test_settings_refuse_default_secret_outside_local() -> None:
    assert PlatformSettings(environment=Environment.LOCAL).internal_token.get_secret_value() == (
        DEFAULT_INTERNAL_TOKEN
    )
    with pytest.raises(ValidationError, match="ZHIHUI_INTERNAL_TOKEN"):
        PlatformSettings(environment=Environment.PRODUCTION)
    with pytest.raises(ValidationError, match="at least 24"):
        PlatformSettings(environment=Environment.STAGING, internal_token="short")
    ok = PlatformSettings(environment=Environment.PRODUCTION, internal_token="s" * 32)
    assert ok.environment is Environment.PRODUCTION


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHIHUI_ENVIRONMENT", "production")
    monkeypatch.setenv("ZHIHUI_INTERNAL_TOKEN", "t" * 40)
    monkeypatch.setenv("ZHIHUI_DATABASE_URL", "postgresql://u:p@db/zhihui")
    settings = PlatformSettings()
    assert settings.environment is Environment.PRODUCTION
    assert settings.database_url == "postgresql://u:p@db/zhihui"


def test_text_cleaning_collapses_whitespace_and_refuses_control_characters() -> None:
    assert clean_line("  清华\u3000 大学\n ") == "清华 大学"
    assert clean_block("第一段\n\n第二段\t") == "第一段\n\n第二段"
    for bad in ("a\x00b", "evil\u202etxt", "x\x1b[31m"):
        with pytest.raises(ValueError, match="control"):
            clean_line(bad)
    with pytest.raises(ValueError):
        clean_block("nul\x00")


def test_discipline_vocabulary_normalises_codes_and_names() -> None:
    vocabulary = disciplines()
    assert len(vocabulary) == 2916
    assert vocabulary.normalize("ｆ０２０１") == "F0201"
    assert vocabulary.normalize("解析数论") == "A010101"
    assert vocabulary.ancestors("A010101") == ["A01", "A0101", "A010101"]
    with pytest.raises(UnknownDiscipline, match="did you mean"):
        vocabulary.normalize("F02O1")


def test_values_the_database_refuses_are_the_callers_not_an_outage() -> None:
    def wrapped(error: Exception) -> DBAPIError:
        return DBAPIError("INSERT …", {}, error)

    for value_error in (CharacterNotInRepertoireError("NUL"), NumericValueOutOfRangeError("x")):
        assert database_refused_value(wrapped(value_error))
        assert not database_unavailable(wrapped(value_error))
    # A deadline's lock or statement timeout: the request may be retried (503), not a 422.
    for timeout in (LockNotAvailableError("lock"), QueryCanceledError("statement timeout")):
        assert database_unavailable(wrapped(timeout))
        assert not database_refused_value(wrapped(timeout))
