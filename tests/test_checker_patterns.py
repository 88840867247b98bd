"""The schema's patterns, tested without re, give re's answers (checker.KNOWN_PATTERNS)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speckit_git_policy.policy.checker import KNOWN_PATTERNS, load_schema, pattern_found


def schema_patterns(node: object) -> set[str]:
    if isinstance(node, dict):
        found = {node["pattern"]} if isinstance(node.get("pattern"), str) else set()
        return found.union(*(schema_patterns(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(schema_patterns(value) for value in node))
    return set()


def test_every_pattern_of_the_shipped_schema_is_known() -> None:
    patterns = schema_patterns(load_schema())
    assert patterns and patterns <= set(KNOWN_PATTERNS)


interesting = st.sampled_from(
    list("hHtTpPsS:/?#x \t\n\r\x0b\x0c\x1c\x85\xa0") + ["\u2028", "\u2029", "\u3000", "\x00", "\x1f",
     "\x7f", "\x9f", "\xa1", "é", "İ", "K", "http://", "https://", "HTTPS://", "httpss://"]
)
texts = st.lists(interesting | st.characters(), max_size=12).map("".join)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(sorted(KNOWN_PATTERNS)), texts)
def test_each_known_pattern_answers_as_re_does(pattern: str, text: str) -> None:
    assert pattern_found(pattern, text) is (re.search(pattern, text) is not None)


@pytest.mark.parametrize("text", ["http://a", "https://a", "HtTpS://x/y", "http:///", "http:// x", "https:/a", "ftp://a", ""])
def test_urls(text: str) -> None:
    pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]"
    assert pattern_found(pattern, text) is (re.search(pattern, text) is not None)


def test_another_pattern_goes_to_re() -> None:
    assert pattern_found(r"^a+b$", "aaab") and not pattern_found(r"^a+b$", "aaa")
