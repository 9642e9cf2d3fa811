"""Enumerations whose members carry their Chinese labels (kernel/labelled.py)."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from services.kernel.labelled import LabelledEnum
from services.kernel.visibility import VISIBILITY_LABELS
from services.kernel.visibility import Visibility


class Kind(LabelledEnum):
    FORUM = "forum", "论坛"
    SURVEY = "survey", "调研"


def test_a_member_is_its_value_and_carries_its_label() -> None:
    assert Kind("survey") is Kind.SURVEY
    assert Kind.SURVEY == "survey" and f"{Kind.SURVEY}" == "survey"
    assert Kind.SURVEY.label == "调研"
    assert Kind.labels() == {Kind.FORUM: "论坛", Kind.SURVEY: "调研"}
    assert VISIBILITY_LABELS[Visibility.INTERNAL] == "内部"


def test_the_api_speaks_values_only() -> None:
    adapter = TypeAdapter(Kind)
    assert adapter.json_schema()["enum"] == ["forum", "survey"]
    assert adapter.validate_python("forum") is Kind.FORUM
    assert adapter.dump_json(Kind.FORUM) == b'"forum"'
    with pytest.raises(ValueError):
        Kind("论坛")


def test_a_member_without_its_label_is_refused() -> None:
    with pytest.raises(ValueError, match="'training' is declared without its label"):

        class Unlabelled(LabelledEnum):
            TRAINING = "training"
