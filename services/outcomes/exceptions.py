"""Errors specific to the outcome library."""

from __future__ import annotations

from collections.abc import Sequence

from services.kernel.errors import FieldError, ValidationFailed


class UnknownReferences(ValidationFailed):
    """Fields name experts or institutions their services do not know."""

    def __init__(self, problems: Sequence[tuple[tuple[str | int, ...], str]]) -> None:
        errors = [
            FieldError(("body", *loc), message, "unknown_reference") for loc, message in problems
        ]
        first = ".".join(str(p) for p in problems[0][0])
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{first}: {problems[0][1]}{more}", errors=errors)
