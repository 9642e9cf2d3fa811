"""Enumerations whose members carry the Chinese label users read beside their API value."""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class LabelledEnum(StrEnum):
    """A `StrEnum` declared as `NAME = "value", "标签"`: one line per member, value and label.

    The API speaks the value; `member.label` is what users read. Keeping both on one line
    means a new member cannot be added without its label.
    """

    label: str

    # `label` defaults only so that a lookup by value (`Visibility("public")`, which never
    # reaches __new__) type-checks; a member declared without one is refused.
    def __new__(cls, value: str, label: str = "") -> Self:
        if not label:
            raise ValueError(f"{cls.__name__} member {value!r} is declared without its label")
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def labels(cls) -> dict[Self, str]:
        """Each member's label, in declaration order."""
        return {member: member.label for member in cls}
