"""checker.py (the hooks' interpreter of the generated schema) against the pydantic models.

Documents are generated valid, then broken in the ways the policy's rules name (a
missing key, an unknown or misspelt key, a wrong type, an out-of-range number, a
bad model-id list, a reflex without endpoint, warn above hard, a value JSON cannot
carry), written as TOML text and parsed back. The two implementations must agree
on acceptance, on the keys every issue names and on the blocks; the words are the
checker's alone. The oracle side reads pydantic's errors itself, with none of the
checker's helpers.
"""

from __future__ import annotations

import datetime
import json
import math
import subprocess
import sys
from typing import Any

import pytest
from conftest import EXAMPLE_POLICY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speckit_git_policy.canonical import canonical_bytes
from speckit_git_policy.errors import PolicyInvalid, PolicyIssue
from speckit_git_policy.policy.checker import (
    JSON_SAFE_INT,
    check_document,
    check_policy_bytes,
    parse_toml,
)
from speckit_git_policy.policy.model import Policy, load_policy

FILE = "model_policy.toml"

# ---- writing TOML (tables as headers, everything else inline) -------------------


def toml_key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "_-" for c in key) and key.isascii() else json.dumps(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if not isinstance(value, float) or math.isfinite(value) else (
            "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def to_toml(table: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[str]:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, dict) or not v]
    tables = [(k, v) for k, v in table.items() if isinstance(v, dict) and v]
    lines = []
    if prefix and (scalars or not tables):
        lines.append("[" + ".".join(toml_key(p) for p in prefix) + "]")
    lines.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in scalars)
    for key, sub in tables:
        lines.extend(to_toml(sub, (*prefix, key)))
    return lines


# ---- documents ------------------------------------------------------------------

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
model_ids = st.sampled_from(["gpt-4o", "claude-sonnet-4", "qwen2.5", "m", "x y", "caf\u00e9\u3000x"])
nonneg = st.one_of(st.integers(0, 10**6), st.floats(0, 1e6, allow_nan=False, allow_infinity=False))
scalars = st.one_of(
    st.booleans(), st.integers(-JSON_SAFE_INT, JSON_SAFE_INT), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
)
free_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=3)), max_leaves=6)


@st.composite
def valid_documents(draw: st.DrawFn) -> dict[str, Any]:
    cloud = draw(st.dictionaries(
        st.one_of(st.sampled_from(["architect", "implementer", "judge"]), names),
        st.lists(model_ids, min_size=1, max_size=3, unique=True), min_size=1, max_size=3))
    routing: dict[str, Any] = {"cloud": cloud}
    if draw(st.booleans()):
        reflex: dict[str, Any] = {}
        enabled = draw(st.booleans())
        if draw(st.booleans()) or enabled:
            reflex["enabled"] = enabled
        if enabled or draw(st.booleans()):
            reflex["endpoint"] = draw(st.sampled_from(["http://127.0.0.1:3009/v1", "https://reflex.example"]))
        if enabled or draw(st.booleans()):
            reflex["model"] = draw(model_ids)
        routing["reflex"] = reflex
    capture: dict[str, Any] = {"mode": draw(st.sampled_from(["none", "prompts_only", "full_io"]))}
    if draw(st.booleans()):
        capture["store_embeddings"] = draw(st.booleans())
    warn, hard = sorted([draw(nonneg), draw(nonneg)])
    document: dict[str, Any] = {
        "routing": routing,
        "capture": capture,
        "budgets": {
            "tokens": draw(st.dictionaries(names, st.integers(1, JSON_SAFE_INT), max_size=4)),
            "cost": {"warn_threshold": warn, "hard_limit": hard},
        },
        "gates": {
            "reflex_promotion": {
                "p95_latency_ms": draw(st.one_of(st.integers(1, 10**5), st.floats(0.001, 1e5))),
                "success_parity_percent": draw(st.one_of(st.integers(0, 100), st.floats(0, 100))),
            },
            "local_memory_sunset": {
                "retrieval_p95_parity": draw(st.booleans()),
                "stability_days": draw(st.integers(0, JSON_SAFE_INT)),
            },
        },
    }
    for table in ("model_config", "weights", "prompts"):
        if draw(st.booleans()):
            document[table] = draw(st.dictionaries(names, free_values, max_size=3))
    return document


# Values that break one rule or another wherever they land.
odd_values = st.one_of(
    st.sampled_from([
        0, -1, 1, -0.5, 0.0, 100, 100.5, 2**53 - 1, 2**53, -(2**53), 2**63, -(2**63) - 1, 10**400,
        math.inf, -math.inf, math.nan, 1.5, True, False, "", "  ", "x", "none", "full_io",
        "ftp://host/x", "https://", "http://h", "HTTPS://h", "http:// h", "http://\u00a0h", "http:///x",
        "\u3000", "\u00a0", "a\u001b[2J", "x\u009by", "a\u2028b", "\u007f", "a\tb", "\u0085",
        [], [""], ["m", "m"], [7], ["a", 1, "b"], ["a\u001bb"], [" ", "\u009b"], {}, {"a": 1},
        datetime.date(1979, 5, 27), datetime.time(7, 32), datetime.datetime(1979, 5, 27, 7, 32),
    ]),
    scalars, free_values,
)


def paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*prefix, key))
            found.extend(paths(item, (*prefix, key)))
    return found


def near_miss(draw: st.DrawFn, known: list[str]) -> str:
    if not known or draw(st.booleans()):
        return draw(names)
    word = draw(st.sampled_from(known))
    at = draw(st.integers(0, len(word) - 1))
    return word[:at] + word[at + 1:] if draw(st.booleans()) else word[:at] + "z" + word[at:]


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    document = draw(valid_documents())
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(paths(document)))
        parent = document
        for part in where[:-1]:
            parent = parent[part]
        kind = draw(st.sampled_from(["delete", "replace", "unknown", "enable"]))
        if kind == "delete":
            del parent[where[-1]]
        elif kind == "replace":
            parent[where[-1]] = draw(odd_values)
        elif kind == "unknown":
            parent[near_miss(draw, list(parent))] = draw(scalars)
        elif isinstance(document.get("routing"), dict):
            reflex = document["routing"].get("reflex")
            if isinstance(reflex, dict):
                reflex["enabled"] = True
    return document


def pydantic_key(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if not (isinstance(p, str) and p.startswith("function-"))]
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def oracle(document: dict[str, Any]) -> tuple[set[str], dict[str, Any] | None]:
    """The keys pydantic rejects, read from its errors, or its blocks."""
    from pydantic import ValidationError

    try:
        return set(), Policy.model_validate(document).blocks()
    except ValidationError as e:
        return {pydantic_key(error["loc"]) for error in e.errors()}, None


def plain(document: dict[str, Any], text: str) -> tuple[list[PolicyIssue], dict[str, Any] | None]:
    lines = parse_toml(text.encode(), FILE)[1]
    try:
        return [], check_document(document, lines, FILE)
    except PolicyInvalid as e:
        return e.issues, None


def assert_agree(text: str) -> None:
    document = parse_toml(text.encode(), FILE)[0]
    expected_keys, expected_blocks = oracle(document)
    issues, blocks = plain(document, text)
    assert {i.key for i in issues} == expected_keys, text
    assert all(i.file == FILE and i.message for i in issues)
    if expected_blocks is None:
        assert blocks is None
        return
    assert blocks is not None
    assert canonical_bytes(blocks) == canonical_bytes(expected_blocks)
    # Stronger than canonical bytes: 30 and 30.0 are told apart, so float fields are floats.
    assert json.dumps(blocks, sort_keys=True) == json.dumps(expected_blocks, sort_keys=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_plain_checks_agree_with_the_pydantic_models(document: dict[str, Any]) -> None:
    assert_agree("\n".join(to_toml(document)) + "\n")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_documents())
def test_generated_valid_documents_are_accepted(document: dict[str, Any]) -> None:
    # Guards the generator: if it stopped making valid documents, the agreement
    # test above would compare error lists only.
    text = "\n".join(to_toml(document)) + "\n"
    parsed, lines = parse_toml(text.encode(), FILE)
    assert set(check_document(parsed, lines, FILE)) == {
        "routing", "capture", "budgets", "gates", "model_config", "weights", "prompts", "pricing"}


EXAMPLE = EXAMPLE_POLICY.read_text()


@pytest.mark.parametrize("old,new", [
    ("", ""),
    ("warn_threshold = 5.0", "warn_threshold = 5"),
    ("[routing.reflex]\nenabled = false\n", "[routing.reflex]\nenabled = true\n"),
    ('mode = "prompts_only"', 'mode = 5'),
    ("[routing.reflex]", "[routing.reflexx]"),
    ("[capture]", "[capture]\nextra = 1"),
    ("[gates.reflex_promotion]", "[gates.reflex_promotion]\nmodel_settings = 1"),
    ("[model_config]", "[model_settings]"),
    ("hard_limit = 25.0", f"hard_limit = {10**400}"),
    ("stop = [\"</done>\"]", "stop = 1979-05-27"),
])
def test_example_edits_agree(old: str, new: str) -> None:
    assert_agree(EXAMPLE.replace(old, new, 1))


def test_load_policy_blocks_equal_plain_blocks() -> None:
    assert json.dumps(load_policy(EXAMPLE.encode(), FILE).blocks(), sort_keys=True) == json.dumps(
        check_policy_bytes(EXAMPLE.encode(), FILE), sort_keys=True)


def test_hook_path_does_not_import_pydantic_or_click() -> None:
    modules = ["hooks.runner", "policy.lint", "snapshot", "capture", "policy.sources", "policy.checker",
               "policy.toml", "policy.rules", "policy.schema", "policy.tomlpos",
               "store", "store.fs", "store.capsule.capsule"]
    code = (
        "import sys\n"
        + "".join(f"import speckit_git_policy.{m}\n" for m in modules)
        + "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'pydantic_core', 'click'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_checking_a_policy_imports_neither_pydantic_nor_importlib_resources() -> None:
    # Not only importing: a whole check, which reads the schema data file.
    code = (
        "import sys\n"
        "from speckit_git_policy.policy.lint import validate\n"
        "from speckit_git_policy.policy.checker import check_policy_bytes\n"
        f"check_policy_bytes(open({str(EXAMPLE_POLICY)!r}, 'rb').read(), 'model_policy.toml')\n"
        "heavy = {'pydantic', 'pydantic_core', 'click', 'jsonschema', 'importlib.resources', 'dataclasses'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---- what the parser refuses: every failure located, never an exception of another kind ----

BASE = EXAMPLE_POLICY.read_text()
BASE_LINES = len(BASE.splitlines())


def issue_of(data: bytes) -> PolicyIssue:
    with pytest.raises(PolicyInvalid) as caught:
        check_policy_bytes(data, FILE)
    (issue,) = caught.value.issues
    assert issue.file == FILE
    return issue


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf" + BASE.encode(), b"\xef\xbb\xbf", b"\xef\xbb\xbf\n\n"])
def test_a_byte_order_mark_is_named(data: bytes) -> None:
    issue = issue_of(data)
    assert (issue.line, issue.key) == (1, "")
    assert issue.message == "starts with a UTF-8 byte order mark (BOM); save it without one"


def nested(kind: str, levels: int) -> str:
    """``levels`` levels of nesting below ``model_config.deep``, on the line after its header."""
    value = {
        "tables": None,
        "dotted keys": None,
        "inline tables": "{a = " * levels + "1" + "}" * levels,
        "arrays": "[" * levels + "]" * levels,
        "arrays of inline tables": "[{a = " * (levels // 2) + "1" + "}]" * (levels // 2),
        "multi-line arrays": "[\n" * levels + "]\n" * levels,
    }[kind]
    if kind == "tables":
        return BASE + "[model_config.deep" + ".a" * levels + "]\nx = 1\n"
    if kind == "dotted keys":
        return BASE + "[model_config.deep]\n" + ".".join(["a"] * levels) + " = 1\n"
    return BASE + "[model_config.deep]\nx = " + str(value) + "\n"


KINDS = ["tables", "dotted keys", "inline tables", "arrays", "arrays of inline tables", "multi-line arrays"]


@pytest.mark.parametrize("levels", [63, 400, 10_000])
@pytest.mark.parametrize("kind", KINDS)
def test_deep_nesting_is_a_located_error(kind: str, levels: int) -> None:
    issue = issue_of(nested(kind, levels).encode())
    assert "nested more than 64 levels deep" in issue.message
    header = BASE_LINES + 1
    if kind == "multi-line arrays":
        # The key's line, or (when the parser ran out of stack) a line of the array.
        assert header + 1 <= (issue.line or 0) <= header + 1 + levels
    else:
        assert issue.line in (header, header + 1)
    assert issue.key.startswith("model_config.deep")
    depth = issue.key.count(".") + issue.key.count("[") + 1
    assert depth in (65, 3)  # the key at the 65th level, or the key whose value nests too deep


@pytest.mark.parametrize("kind", ["tables", "dotted keys", "inline tables", "arrays"])
def test_the_depth_limit_is_64_levels(kind: str) -> None:
    # The deepest value's key: model_config.deep, then the nesting (and x): 64 parts fit, 65 do not.
    # An innermost empty array holds nothing, so it adds no level.
    fits = {"tables": 61, "dotted keys": 62, "inline tables": 61, "arrays": 62}[kind]
    blocks = check_policy_bytes(nested(kind, fits).encode(), FILE)
    assert "deep" in blocks["model_config"]
    issue = issue_of(nested(kind, fits + 1).encode())
    assert "nested more than 64 levels deep" in issue.message


def test_a_recursion_error_in_the_parser_becomes_a_located_issue(monkeypatch: pytest.MonkeyPatch) -> None:
    if sys.version_info >= (3, 11):
        import tomllib as parser
    else:  # pragma: no cover
        import tomli as parser

    def exhausted(text: str) -> dict[str, Any]:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(parser, "loads", exhausted)  # tomlfast leaves arrays this deep to it
    issue = issue_of(nested("arrays", 100).encode())
    assert (issue.line, issue.key) == (BASE_LINES + 2, "model_config.deep.x")
    assert "nested more than 64 levels deep" in issue.message


def test_deep_values_given_to_the_model_directly_are_refused_at_their_key() -> None:
    from pydantic import ValidationError

    document = parse_toml(BASE.encode(), FILE)[0]
    deep: Any = 1
    for _ in range(200):
        deep = [deep]
    document["model_config"] = {"deep": deep}
    with pytest.raises(PolicyInvalid) as caught:
        check_document(document, parse_toml(BASE.encode(), FILE)[1], FILE)
    (issue,) = caught.value.issues
    assert issue.key == "model_config.deep" + "[0]" * 63
    with pytest.raises(ValidationError) as refused:
        Policy.model_validate(document)
    assert len(refused.value.errors()) == 1


def test_walks_of_stored_documents_do_not_recurse() -> None:
    from speckit_git_policy.canonical import parse_json_bytes
    from speckit_git_policy.snapshot import flatten

    deep: dict[str, Any] = {}
    node = deep
    for _ in range(10_000):
        node["a"] = {}
        node = node["a"]
    node["a"] = 1
    assert flatten(deep) == {".".join(["a"] * 10_001): 1}
    with pytest.raises(ValueError, match="nested too deeply to be written"):
        canonical_bytes(deep)
    with pytest.raises(ValueError, match="nested too deeply to be read"):
        parse_json_bytes(b"[" * 100_000 + b"]" * 100_000)


def test_flatten_keeps_its_order_and_leaves() -> None:
    from speckit_git_policy.snapshot import flatten

    value = {"b": {"x": 1, "y": {}}, "a": [1, {"z": 2}], "c": {"d": {"e": None}}}
    assert list(flatten(value).items()) == [("b.x", 1), ("b.y", {}), ("a", [1, {"z": 2}]), ("c.d.e", None)]
    assert flatten({}) == {} and flatten(3) == {} and flatten(3, "k") == {"k": 3}
    assert flatten({"t": {"u": 1}}, "p") == {"p.t.u": 1}


def test_messages_of_unrepresentable_free_form_values_say_json() -> None:
    # snapshot.compile_content tells an unrepresentable value from a failed rule by it.
    for edit in ("temperature = 1979-05-27", f"temperature = {2**60}", "temperature = nan"):
        issue = issue_of(BASE.replace("temperature = 0.2", edit).encode())
        assert issue.key == "model_config.temperature" and "JSON" in issue.message


def test_an_empty_rationale_marks_the_snapshot_not_validated(policy_repo: Any) -> None:
    from speckit_git_policy.git.repo import GitRepo
    from speckit_git_policy.policy.sources import WORKTREE, read_sources
    from speckit_git_policy.snapshot import compile_sources

    repo = GitRepo.discover(policy_repo)
    assert compile_sources(read_sources(repo, WORKTREE)).validated is True
    (policy_repo / "docs" / "MODEL-POLICY.md").write_text(" \n\n")
    compiled = compile_sources(read_sources(repo, WORKTREE))
    assert compiled.validated is False
    assert [(i.file, i.message) for i in compiled.issues] == [("docs/MODEL-POLICY.md", "rationale document is empty")]


def test_model_id_patterns_mean_the_same_to_pydantic_and_to_the_checker() -> None:
    # pydantic validates patterns with its own regex engine, the checker with Python's re.
    from pydantic import TypeAdapter, ValidationError

    from speckit_git_policy.policy import checker
    from speckit_git_policy.policy.model import ModelId
    from speckit_git_policy.policy.schema import load_schema

    adapter = TypeAdapter(ModelId)
    interpreter = checker._Checker(load_schema())
    characters = [chr(c) for c in range(0x3100)] + ["\ufeff", "\U0001f600", "\U000e0001", "\U0010ffff"]
    for char in characters:
        for value in (char, f"a{char}b"):
            try:
                adapter.validate_python(value)
                pydantic_accepts = True
            except ValidationError:
                pydantic_accepts = False
            before = len(interpreter.errors)
            checker_accepts = interpreter.check({"$ref": "#/$defs/ModelId"}, value, ()) is not checker.INVALID
            assert checker_accepts == pydantic_accepts == (len(interpreter.errors) == before), repr(value)
            blank_or_control = value.isspace() or any(
                ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029" for c in value)
            assert checker_accepts == (not blank_or_control), repr(value)


def test_the_endpoint_pattern_means_the_same_to_pydantic_and_to_the_checker() -> None:
    from pydantic import TypeAdapter, ValidationError

    from speckit_git_policy.policy import checker
    from speckit_git_policy.policy.model import Endpoint
    from speckit_git_policy.policy.schema import load_schema

    adapter = TypeAdapter(Endpoint)
    node = load_schema()["$defs"]["Reflex"]["properties"]["endpoint"]
    interpreter = checker._Checker(load_schema())
    for char in [chr(c) for c in range(0x3100)] + ["\ufeff"]:
        for value in (f"http://{char}", f"HTTPS://{char}h", f"{char}http://h", f"ftp{char}://h"):
            try:
                adapter.validate_python(value)
                pydantic_accepts = True
            except ValidationError:
                pydantic_accepts = False
            assert (interpreter.check(node, value, ()) is not checker.INVALID) == pydantic_accepts, repr(value)
