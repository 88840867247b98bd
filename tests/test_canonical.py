"""canonical_bytes: json.dumps where it writes RFC 8785 exactly, rfc8785 elsewhere."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speckit_git_policy.canonical import (
    _INTEGRAL_FLOATS,
    _NOT_PLAIN,
    _PLAIN,
    _plain,
    canonical_bytes,
)


def reference(value: Any) -> bytes | str:
    try:
        return rfc8785.dumps(value)
    except RecursionError:
        return "ValueError"
    except ValueError as e:
        return type(e).__name__


def ours(value: Any) -> bytes | str:
    try:
        return canonical_bytes(value)
    except ValueError as e:
        return type(e).__name__


KEYS = st.text(max_size=6) | st.sampled_from(
    ["a", "b", "\ue000", "\uffff", "\U0001f600", "é", "\ud800"]
)
FLOATS = st.floats() | st.sampled_from(
    [1e-7, 1e-6, 1e-5, 1e-4, 1e15, 1e16, 1e20, 1e21, 1e22, -0.0, 0.0, 2.0, -3.0, 0.5,
     123456789012345.6, 5e-324, 1.7976931348623157e308, float("inf"), float("nan")]
)  # fmt: skip
INTS = st.integers(min_value=-(2**60), max_value=2**60) | st.sampled_from(
    [2**53 - 1, 2**53, -(2**53) + 1, -(2**53)]
)
SCALARS = st.none() | st.booleans() | INTS | FLOATS | st.text(max_size=8)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(VALUES)
def test_the_same_bytes_or_the_same_refusal_as_rfc8785(value: Any) -> None:
    assert ours(value) == reference(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\ue000": 1, "\U0001f600": 2},  # UTF-16 order puts the emoji first, code points last
        [1e-5], [1e16], [2**53], [float("inf")],
        {1: "int key"}, ("tuple",),
    ],
)  # fmt: skip
def test_values_json_dumps_would_write_otherwise_go_to_rfc8785(value: Any) -> None:
    assert _plain(value) == _NOT_PLAIN
    assert ours(value) == reference(value)


def test_integral_floats_are_written_as_their_ints() -> None:
    value = {"a": 25.0, "b": [-0.0, 2000.0, 0.5], "c": 9007199254740994.0}
    assert _plain(value) == _INTEGRAL_FLOATS
    assert (
        canonical_bytes(value)
        == rfc8785.dumps(value)
        == (b'{"a":25,"b":[0,2000,0.5],"c":9007199254740994}')
    )


def test_lone_surrogates_and_bools_among_ints() -> None:
    assert ours({"k": "\ud800"}) == reference({"k": "\ud800"}) == "CanonicalizationError"
    assert canonical_bytes([True, 1, False, 0]) == b"[true,1,false,0]"


def test_a_snapshot_takes_the_fast_path() -> None:
    document = {
        "budgets": {"cost": {"hard_limit": 25, "warn_threshold": 3.95}},
        "model_config": {"stop": ["</done>"], "temperature": 0.2},
        "prompts": {"judge": 'Answer "PASS"\n\tor FAIL\u0007 — é'},
        "source_digests": {"docs/MODEL-POLICY.md": "c477" * 16},
    }
    assert _plain(document) == _PLAIN
    assert canonical_bytes(document) == rfc8785.dumps(document)


def test_cycles_and_deep_nesting_are_refused_as_before() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError):
        canonical_bytes(cycle)
    deep: Any = 0
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError):
        canonical_bytes(deep)
