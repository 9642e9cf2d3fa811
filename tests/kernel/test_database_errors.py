"""What a database refusal means for the caller: their value, or an outage."""

from __future__ import annotations

from asyncpg.exceptions import CharacterNotInRepertoireError
from asyncpg.exceptions import LockNotAvailableError
from asyncpg.exceptions import NumericValueOutOfRangeError
from asyncpg.exceptions import QueryCanceledError
from sqlalchemy.exc import DBAPIError

from services.kernel.errors import database_refused_value
from services.kernel.errors import database_unavailable


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
