"""Whether a new dataset definition fits the records already stored, and their migration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from services.datasets.schemas import FieldSpec
from services.datasets.values import ValueProblem
from services.datasets.values import convert
from services.datasets.values import normalize
from services.datasets.values import short
from services.kernel.errors import FieldError

# What each kind of problem means for the admin, with the way out.
_EXPLAIN = {
    "removed": "the field is removed but {n} record(s) have a value for it "
    "(send ?drop_removed_fields=true to delete those values)",
    "missing": "the field would be required but {n} record(s) have no value for it",
    "enum": "{n} record(s) have a value the new enum does not allow",
    "not_single": "{n} record(s) have several values but the field would hold only one",
    "not_convertible": "{n} record(s) have values that do not convert to the new type",
    "lossy": "{n} record(s) have values that would change in the new type",
    "invalid_reference": "{n} record(s) have values that are not IDs of the referenced library",
    "unknown_reference": "{n} record(s) refer to records that do not exist",
}


@dataclass(slots=True)
class Problem:
    field: str
    kind: str
    records: int = 0
    example_record: str = ""
    example: str = ""


@dataclass(slots=True)
class Incompatibilities:
    """Per field and kind of problem: how many stored records it affects, with an example."""

    problems: dict[tuple[str, str], Problem] = field(default_factory=dict)

    def add(self, field_name: str, kind: str, record_id: str, example: str) -> None:
        key = (field_name, kind if kind in _EXPLAIN else "not_convertible")
        problem = self.problems.setdefault(key, Problem(field_name, key[1]))
        if not problem.records:
            problem.example_record, problem.example = record_id, example
        problem.records += 1

    def __bool__(self) -> bool:
        return bool(self.problems)

    def errors(self) -> list[FieldError]:
        return [
            FieldError(
                ("body", "fields", p.field),
                f"{_EXPLAIN[p.kind].format(n=p.records)}; e.g. {p.example_record}: {p.example}",
                "incompatible_change",
            )
            for p in sorted(self.problems.values(), key=lambda p: (p.field, p.kind))
        ]


class DefinitionChange:
    """Maps the stored values of the old definition onto the new one, field by field."""

    def __init__(
        self, old: Sequence[FieldSpec], new: Sequence[FieldSpec], *, drop_removed: bool
    ) -> None:
        self.old = {f.name: f for f in old}
        self.new = {f.name: f for f in new}
        self.drop_removed = drop_removed

    def migrate(
        self, values: dict[str, Any]
    ) -> tuple[dict[str, Any], list[tuple[str, ValueProblem]]]:
        """(the values under the new definition, [(field, problem)] that stop the change)."""
        result: dict[str, Any] = {}
        problems: list[tuple[str, ValueProblem]] = []
        for name, value in values.items():
            new = self.new.get(name)
            if new is None:
                if not self.drop_removed:
                    problems.append((name, ValueProblem(short(value), "removed")))
                continue
            old = self.old.get(name)
            try:
                result[name] = convert(value, old, new) if old else normalize(new, value)
            except ValueProblem as problem:
                problems.append((name, problem))
        failed = {name for name, _ in problems}
        for name, new in self.new.items():
            if new.required and name not in result and name not in failed:
                problems.append((name, ValueProblem("no value", "missing")))
        return result, problems

    def new_references(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        """(field, ID) of ref values whose field was not a ref to that library before."""
        found = []
        for name, new in self.new.items():
            old = self.old.get(name)
            if new.library is None or name not in values or (old and old.type == new.type):
                continue
            items = values[name] if new.multiple else [values[name]]
            found += [(name, item) for item in items]
        return found
