"""KeyLines: dotted key → the line that defines it, whatever the TOML layout."""

from __future__ import annotations

import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from speckit_git_policy.policy.tomlpos import KeyLines

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_headers_assignments_and_quoted_keys() -> None:
    text = (
        "# comment\n"          # 1
        "top = 1\n"            # 2
        "[a.b]\n"              # 3
        "x = 1\n"              # 4
        '"quoted key" = 2\n'   # 5
        "[ 'c' . d ]  # c\n"   # 6
        "y.z = 3\n"            # 7
        "[[arr]]\n"            # 8
        "k = 1\n"              # 9
    )
    tomllib.loads(text)
    lines = KeyLines(text)
    assert lines.line_of(("top",)) == 2
    assert lines.line_of(("a", "b")) == 3
    assert lines.line_of(("a",)) is None  # never written on its own line
    assert lines.line_of(("a", "b", "x")) == 4
    assert lines.line_of(("a", "b", "quoted key")) == 5
    assert lines.line_of(("c", "d", "y")) == 7
    assert lines.line_of(("c", "d", "y", "z")) == 7
    assert lines.line_of(("arr", 0, "k")) == 9
    # An unknown leaf falls back to its nearest located parent.
    assert lines.line_of(("a", "b", "missing")) == 3
    assert lines.line_of_dotted("a.b.x[3]") == 4
    assert lines.span_of(("a", "b")) == 3


def test_multiline_strings_and_arrays_hide_their_contents() -> None:
    text = (
        "[t]\n"                       # 1
        'doc = """\n'                 # 2
        "fake = 1\n"                  # 3
        "[fake]\n"                    # 4
        '"""\n'                       # 5
        "lit = '''\n"                 # 6
        "other = 2 '''\n"             # 7
        "arr = [\n"                   # 8
        '  "]",  # ] in a string\n'    # 9
        "  '[', \"\\\"]\",\n"         # 10
        "  [1, [2]], { a = \"]\" },\n"  # 11
        "]\n"                         # 12
        "after = 3\n"                 # 13
        "[u]\n"                       # 14
        "v = 4\n"                     # 15
    )
    tomllib.loads(text)
    lines = KeyLines(text)
    assert lines.line_of(("t", "after")) == 13
    assert lines.line_of(("u",)) == 14
    assert lines.line_of(("u", "v")) == 15
    assert lines.line_of(("t", "fake")) == 1
    assert lines.line_of(("fake",)) is None
    assert lines.line_of(("t", "other")) == 1
    assert lines.line_of(("t", "arr")) == 8


_bare = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
_scalar = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.sampled_from(['"s"', "'lit'", '"a]b"', "'[x'", '"#not a comment"', "true", "1.5"]),
)
_value = st.one_of(
    _scalar,
    st.lists(_scalar, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
    st.lists(_scalar, min_size=1, max_size=3).map(lambda items: "[\n  " + ",\n  ".join(items) + ",\n]"),
    st.just('"""\nx = 1\n[y]\n"""'),
)


@settings(max_examples=60, deadline=None)
@given(
    tables=st.dictionaries(
        _bare, st.dictionaries(_bare, _value, min_size=1, max_size=4), min_size=1, max_size=4
    )
)
def test_every_generated_key_gets_its_own_line(tables: dict[str, dict[str, str]]) -> None:
    out: list[str] = []
    expected: dict[tuple[str, ...], int] = {}
    for table, entries in tables.items():
        out.append(f"[{table}]  # table")
        expected[(table,)] = len(out)
        for key, value in entries.items():
            expected[(table, key)] = len(out) + 1
            out.extend(f"{key} = {value}".split("\n"))  # a multi-line value takes more lines
    text = "\n".join(out) + "\n"
    tomllib.loads(text)  # the generator only makes valid TOML
    lines = KeyLines(text)
    for key, line in expected.items():
        assert lines.line_of(key) == line, (key, text)


def test_nesting_depth_is_found_by_line() -> None:
    from speckit_git_policy.policy.tomlpos import line_nesting_deeper_than

    text = (
        "[a]\n"                         # 1
        'x = "[[[[[[[["  # [[[[[[[\n'   # 2: brackets in a string and a comment do not count
        "y = [[[1]]]\n"                 # 3: three levels, closed on the line
        "z = [\n"                       # 4
        "  [\n"                         # 5
        "    [[2]],\n"                  # 6: four levels here
        "  ],\n"                        # 7
        "]\n"                           # 8
    )
    tomllib.loads(text)
    assert line_nesting_deeper_than(text, 2) == 3
    assert line_nesting_deeper_than(text, 3) == 6
    assert line_nesting_deeper_than(text, 4) == 6  # none deeper: the deepest line


def test_very_long_keys_are_kept_to_the_nesting_limit_and_still_located() -> None:
    from speckit_git_policy.policy.rules import MAX_DEPTH

    parts = ["k"] * 10_000
    text = "[" + ".".join(parts) + "]\n" + "x.y = 1\n" + "[t]\n" + ".".join(parts) + " = 2\n"
    lines = KeyLines(text)
    assert max(len(key) for key in lines.keys()) == MAX_DEPTH + 1
    assert lines.line_of(tuple(parts)) == 1
    assert lines.line_of(("t", *parts)) == 4
    assert lines.line_of(("t",)) == 3
