"""The command line's JSON writer gives json.dumps(indent=2, ensure_ascii=False)'s text."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from speckit_git_policy.cli.json_output import dumps

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=40,
)


@given(documents)
def test_same_text_as_json_dumps(document: object) -> None:
    assert dumps(document) == json.dumps(document, indent=2, ensure_ascii=False)


@pytest.mark.parametrize(
    "document",
    [
        [],
        {},
        [{"run_id": "r", "events": 3, "stage": None, "ok": True, "cost": 0.5}] * 3,
        [{"a": "},\n    {", "b": None}, {"c": "}, {"}, {"d": [1]}],  # rows, then not rows
        {"rows": [{"a": 1}, {"b": "}"}], "deeper": [[{"a": 1}, {"b": 2}]]},
        [{"a": 1}, {}],  # an empty row: not the rows' path
        {"a": [], "b": {}, "c": [[], [{}]], "d": "é\u2028\x7f"},
        {1: "int key", None: "null key", 2.5: "float key"},  # flat: the C encoder's keys
        {"nested": {1: "int key"}},  # not text inside a nested container: json.dumps
        [math.nan, math.inf, -math.inf],
        ("a", ("b",)),
        "x",
        7,
    ],
)
def test_corners(document: object) -> None:
    assert dumps(document) == json.dumps(document, indent=2, ensure_ascii=False)


def test_errors_are_json_dumps_errors() -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps([cycle])
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"a": [object()]})
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps([{1, 2}])
