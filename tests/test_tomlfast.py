"""tomlfast gives what tomllib gives, or None: never another document, never a document
for text tomllib refuses. Generated documents from the plain part of TOML must be read
(not left to tomllib); mutated ones hold the first rule."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speckit_git_policy.policy import tomlfast
from speckit_git_policy.policy.toml import parse_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parent.parent


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (True is not 1, -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return repr(a) == repr(b) or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def check(text: str) -> Any:
    """tomlfast's answer, after holding it to tomllib's."""
    fast = tomlfast.loads(text)
    try:
        slow: Any = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        assert fast is None, f"tomlfast read text tomllib refuses: {text!r}"
        return None
    assert fast is None or same(fast, slow), f"{text!r}: {fast!r} != {slow!r}"
    return fast


bare_keys = st.text("abcXYZ019_-", min_size=1, max_size=6)
ints = st.integers(-(10**17), 10**17).map(str) | st.sampled_from(["0", "+0", "-0", "+7"])
floats = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}{fraction}{exponent}",
    st.sampled_from(["", "+", "-"]),
    st.sampled_from(["0", "1", "12", "907"]),
    st.sampled_from(["", ".0", ".5", ".25", ".000001"]),
    st.sampled_from(["", "e5", "E-3", "e+05", "e0", "e308", "e-400"]),
).filter(lambda token: "." in token or "e" in token.lower())
escapes = st.sampled_from(["\\n", "\\t", '\\"', "\\\\", "\\b", "\\f", "\\r", "\\u00e9", "\\U0001F600"])
plain_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters='"\\\n\r')
basic_strings = st.lists(plain_chars.filter(lambda c: c == "\t" or not (c < " " or c == "\x7f")) | escapes,
                         max_size=8).map(lambda parts: '"' + "".join(parts) + '"')
literal_strings = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="'\n\r").filter(
        lambda c: c == "\t" or not (c < " " or c == "\x7f")
    ),
    max_size=8,
).map(lambda s: f"'{s}'")
scalars = ints | floats | basic_strings | literal_strings | st.sampled_from(["true", "false"])
blanks = st.sampled_from(["", " ", "\t", "\n", " # note\n", "\n  "])


def arrays(items: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda values, gaps, trailing: "["
        + ",".join(f"{gap}{value}" for value, gap in zip(values, gaps, strict=False))
        + ("," if trailing and values else "")
        + "\n]",
        st.lists(items, max_size=4),
        st.lists(blanks, min_size=4, max_size=4),
        st.booleans(),
    )


values = st.recursive(scalars, arrays, max_leaves=8)


EQUALS = st.sampled_from(["=", " = ", "\t=  "])


@st.composite
def documents(draw: st.DrawFn) -> str:
    """A document of the plain part of TOML (now and then one tomllib refuses: a table
    over a value)."""
    lines = []
    headers: set[tuple[str, ...]] = set()
    for number in range(draw(st.integers(0, 4))):
        header = tuple(draw(st.lists(bare_keys, min_size=1, max_size=3)))
        if number or draw(st.booleans()):
            if header in headers:
                continue
            headers.add(header)
            separator = draw(st.sampled_from([".", " . "]))
            lines.append(f"[{separator.join(header)}]" + draw(st.sampled_from(["", "  # a table"])))
        for key in draw(st.lists(bare_keys, max_size=4, unique=True)):
            lines.append(key + draw(EQUALS) + draw(values) + draw(st.sampled_from(["", " # why", "\t#"])))
        lines.append(draw(st.sampled_from(["", "# comment", "   "])))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["", "\n"]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_plain_documents_are_read_as_tomllib_reads_them(text: str) -> None:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return  # the generator's own slip (a header over a value): the next test's ground
    assert check(text) is not None, f"left to tomllib: {text!r}"


noise = st.sampled_from(list("[]{}=.,\"'#\\ \t\n\r_-+eE0x1:") + ["\x00", "\x7f", "'''", '"""', "inf"])


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 2), noise), max_size=3))
def test_mutated_documents_never_get_another_answer(text: str, edits: list[tuple[int, int, str]]) -> None:
    for at, how, char in edits:
        at = at % (len(text) + 1)
        if how == 0:
            text = text[:at] + char + text[at:]
        elif how == 1:
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + char + text[at + 1 :]
    check(text)


@pytest.mark.parametrize(
    "text",
    [
        "a = 1\na = 2\n",  # a key twice
        "[t]\n[t]\n",  # a table twice
        "a = 1\n[a]\n",  # a table over a value
        "[a.b]\nx = 1\n[a]\nb = 2\n",  # a value over a table
        "a = 01\n",
        "a = 1.\n",
        "a = .5\n",
        "a = 1e\n",
        'a = "\\x"\n',
        'a = "\\ud800"\n',
        'a = "tab\tok" # fine\nb = "bell\x07"\n',
        "a = 1 b = 2\n",
        "a = [1 2]\n",
        "a = [,]\n",
        "[a]]\n",
        "[]\n",
        "a = true1\n",
        "# \x01\n",
        "a = 1\r\n\rb = 2\n",
        "a = 'x\n",
    ],
)
def test_what_tomllib_refuses_is_left_to_it(text: str) -> None:
    assert tomlfast.loads(text) is None
    with pytest.raises(tomllib.TOMLDecodeError):
        tomllib.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        "a.b = 1\n",
        '"quoted" = 1\n',
        "t = {x = 1}\n",
        "[[runs]]\nx = 1\n",
        'a = """\nmulti\n"""\n',
        "d = 1979-05-27\n",
        "h = 0xff\n",
        "n = 1_000\n",
        "f = inf\n",
        "[a.'b']\n",
    ],
)
def test_the_rest_of_toml_is_left_to_tomllib(text: str) -> None:
    assert tomlfast.loads(text) is None
    tomllib.loads(text)  # valid TOML, read by tomllib through parse_toml
    document, _ = parse_toml(text.encode(), "p.toml")
    assert same(document, tomllib.loads(text))


def test_the_policies_in_this_repository_are_read_without_tomllib() -> None:
    sources = [REPO_ROOT / "model_policy.toml", *sorted((REPO_ROOT / "docs").rglob("*.toml"))]
    for source in sources:
        text = source.read_text(encoding="utf-8")
        fast = tomlfast.loads(text)
        assert fast is not None, source
        assert same(fast, tomllib.loads(text)), source
