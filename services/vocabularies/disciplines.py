"""The discipline vocabulary (学科): NSFC application codes, 3 levels (A01, A0101, A010101)."""

from __future__ import annotations

import difflib
import json
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator
from pydantic import Field

DATA_FILE = Path(__file__).parent / "data" / "nsfc_disciplines.jsonl"

DIVISIONS = {
    "A": "数学物理科学部",
    "B": "化学科学部",
    "C": "生命科学部",
    "D": "地球科学部",
    "E": "工程与材料科学部",
    "F": "信息科学部",
    "G": "管理科学部",
    "H": "医学科学部",
}


@dataclass(frozen=True, slots=True)
class Discipline:
    code: str
    name: str
    name_en: str
    parent: str | None
    level: int

    @property
    def division(self) -> str:
        return DIVISIONS[self.code[0]]


class UnknownDiscipline(ValueError):
    """A code that is not in the vocabulary; the message suggests close matches."""


class DisciplineVocabulary:
    """Lookup, validation and ancestry of discipline codes."""

    def __init__(self, disciplines: dict[str, Discipline]) -> None:
        self._by_code = disciplines
        self._by_name = {d.name: d for d in disciplines.values()}

    def __len__(self) -> int:
        return len(self._by_code)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self._by_code

    def get(self, code: str) -> Discipline | None:
        return self._by_code.get(code)

    def by_name(self, name: str) -> Discipline | None:
        return self._by_name.get(name.strip())

    def normalize(self, value: str) -> str:
        """A canonical code from a code (any case/width) or an exact Chinese name."""
        text = unicodedata.normalize("NFKC", value).strip()
        code = text.upper()
        if code in self._by_code:
            return code
        named = self.by_name(text)
        if named is not None:
            return named.code
        close = difflib.get_close_matches(code, self._by_code, n=3, cutoff=0.6)
        close += [
            d.code
            for d in map(self.by_name, difflib.get_close_matches(text, self._by_name, n=2))
            if d
        ]
        hint = f"; did you mean {', '.join(dict.fromkeys(close))}?" if close else ""
        raise UnknownDiscipline(
            f"unknown discipline {value[:40]!r}: use an NSFC code such as F0201 or its exact "
            f"Chinese name{hint}"
        )

    def ancestors(self, code: str) -> list[str]:
        """The code and its ancestors, broadest first (A01, A0101, A010101)."""
        chain = []
        node = self._by_code.get(code)
        while node is not None:
            chain.append(node.code)
            node = self._by_code.get(node.parent) if node.parent else None
        return list(reversed(chain))

    def label(self, code: str) -> str:
        found = self._by_code.get(code)
        return found.name if found else code


@cache
def disciplines() -> DisciplineVocabulary:
    """The bundled vocabulary, loaded once."""
    entries: dict[str, Discipline] = {}
    with DATA_FILE.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            code = row["_id"]
            parents = row.get("parents") or []
            entries[code] = Discipline(
                code=code,
                name=row["name"],
                name_en=row.get("name_en") or "",
                parent=parents[0] if parents else None,
                level={3: 1, 5: 2, 7: 3}.get(len(code), 0),
            )
    return DisciplineVocabulary(entries)


def normalize_discipline(value: str) -> str:
    """A canonical NSFC code for a field value (a ValueError that suggests close ones)."""
    return disciplines().normalize(value)


# A discipline code in a request body: F0201, or its exact Chinese name, stored as the code.
DisciplineCode = Annotated[str, Field(max_length=100), AfterValidator(normalize_discipline)]
