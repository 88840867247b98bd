"""text.py: the one "did you mean" hint, and the messages that use it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from speckit_git_policy.enforce.samples import _did_you_mean
from speckit_git_policy.errors import BadInput
from speckit_git_policy.queries.trace import select_keys
from speckit_git_policy.text import closest, did_you_mean


def test_the_hint_names_the_closest_choice_or_nothing() -> None:
    choices = ["plan", "tasks", "implement"]
    assert closest("plann", choices) == "plan"
    assert closest("zzzz", choices) is None
    assert did_you_mean("plann", choices) == "; did you mean 'plan'?"
    assert did_you_mean("plann", iter(choices), aside=True) == " (did you mean 'plan'?)"
    assert did_you_mean("zzzz", choices) == did_you_mean("zzzz", choices, aside=True) == ""
    assert did_you_mean("x", []) == ""


def test_callers_word_it_as_before() -> None:
    assert _did_you_mean("architekt", ["architect", "coder"]) == " (did you mean 'architect'?)"
    with pytest.raises(BadInput, match=r"no policy key 'capture\.mod' in force for this run; "
                                       r"did you mean 'capture\.mode'\?$"):
        select_keys({"capture.mode": "none", "routing.local": "x"}, "capture.mod")
    assert select_keys({"a.b": 1, "a.c": 2, "d": 3}, "a") == {"a.b": 1, "a.c": 2}


def test_difflib_is_imported_only_for_a_hint() -> None:
    code = ("import sys; from speckit_git_policy import text; print('difflib' in sys.modules); "
            "text.did_you_mean('a', ['b']); print('difflib' in sys.modules)")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO_ROOT)}).stdout
    assert out.split() == ["False", "True"]


# ---- control characters (docs/DESIGN.md §9) ---------------------------------------------------
def test_printable_escapes_every_control_character_and_nothing_else() -> None:
    from speckit_git_policy.text import printable

    assert printable("gpt-4o") == "gpt-4o"
    assert printable("tab\tand é 政策 🙂") == "tab\tand é 政策 🙂"
    assert printable("a\x1b]0;t\x07\nb\r\x00\x7f\x9b\u2028\u202e") == (
        "a\\x1b]0;t\\x07\\nb\\r\\x00\\x7f\\x9b\\u2028\\u202e"
    )
    assert printable(3) == "3"


def test_json_safe_escapes_what_json_dumps_leaves_raw_and_reads_back_the_same() -> None:
    import json

    from speckit_git_policy.text import json_safe

    value = {"id": "x\x1b\x7f\x9b\u2028\u202eé"}
    text = json_safe(json.dumps(value, ensure_ascii=False))
    assert all(ch not in text for ch in "\x1b\x7f\x9b\u2028\u202e") and "é" in text
    assert json.loads(text) == value
