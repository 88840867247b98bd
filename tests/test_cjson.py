"""cjson gives json's answers: the C encoder and scanner called as json calls them."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speckit_git_policy import cjson
from speckit_git_policy.policy.checker import schema_text

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_dumps_sorted_writes_what_json_dumps_writes(value: Any) -> None:
    assert cjson.dumps_sorted(value) == dumps(value)


@settings(max_examples=500, deadline=None)
@given(json_values, st.sampled_from(["", " ", "\n\t ", "\r\n"]))
def test_loads_reads_what_json_loads_reads(value: Any, blank: str) -> None:
    text = blank + json.dumps(value, ensure_ascii=bool(len(blank) % 2)) + blank
    assert cjson.loads(text) == json.loads(text)


def test_the_schema_reads_the_same() -> None:
    assert cjson.loads(schema_text()) == json.loads(schema_text())


@pytest.mark.parametrize("value", [math.nan, math.inf, {"a": -math.inf}, {1: object()}, object()])
def test_what_json_refuses_it_refuses(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)) as expected:
        dumps(value)
    with pytest.raises(expected.type):
        cjson.dumps_sorted(value)


def test_a_cycle_is_refused() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError):
        cjson.dumps_sorted(cycle)
    cjson.dumps_sorted([1])  # and the next call starts afresh


@pytest.mark.parametrize("text", ["", "  ", "[1,", "{} {}", "NaN", "[Infinity]", "\ufeff{}", "tru"])
def test_what_is_not_one_json_document_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        cjson.loads(text)
