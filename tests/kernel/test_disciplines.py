"""The NSFC discipline vocabulary: codes and names."""

from __future__ import annotations

import pytest

from services.vocabularies.disciplines import UnknownDiscipline
from services.vocabularies.disciplines import disciplines


def test_discipline_vocabulary_normalises_codes_and_names() -> None:
    vocabulary = disciplines()
    assert len(vocabulary) == 2916
    assert vocabulary.normalize("ｆ０２０１") == "F0201"
    assert vocabulary.normalize("解析数论") == "A010101"
    assert vocabulary.ancestors("A010101") == ["A01", "A0101", "A010101"]
    with pytest.raises(UnknownDiscipline, match="did you mean"):
        vocabulary.normalize("F02O1")
