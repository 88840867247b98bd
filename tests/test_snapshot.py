"""PolicySnapshot 1.0: compile, content hash over exactly the content, canonical
bytes (RFC 8785), and load_document's refusals."""

from __future__ import annotations

import hashlib
import sys
from typing import Any

import pytest
import rfc8785
from conftest import EXAMPLE_DOC, EXAMPLE_POLICY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speckit_git_policy.errors import PolicyInvalid, SnapshotCorrupt
from speckit_git_policy.policy.sources import SourcePaths, Sources
from speckit_git_policy.snapshot import (
    CONTENT_KEYS,
    build_document,
    compile_sources,
    content_hash,
    diff_documents,
    document_bytes,
    load_document,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

POLICY = "model_policy.toml"
DOC = "docs/MODEL-POLICY.md"
PATHS = SourcePaths(policy=POLICY, doc=DOC)
TOML = EXAMPLE_POLICY.read_bytes()
MD = EXAMPLE_DOC.read_bytes()
POLICY_ID = "0b8f6d52-3f5e-4c8e-9d57-1a2b3c4d5e6f"


def sources(toml: bytes = TOML, md: bytes = MD, paths: SourcePaths = PATHS) -> Sources:
    return Sources(paths=paths, files={paths.policy: toml, paths.doc: md}, origin="worktree")


def document(toml: bytes = TOML, **provenance: Any) -> dict[str, Any]:
    compiled = compile_sources(sources(toml))
    return build_document(
        compiled, provenance.get("policy_id", POLICY_ID),
        created_at=provenance.get("created_at", "2026-01-12T10:30:00.123456Z"),
        commit=provenance.get("commit", "a" * 40), trigger=provenance.get("trigger", "manual"),
    )


# ---- rendering a policy in different TOML layouts ---------------------------------------


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{_toml_string(k)} = {_value(v)}" for k, v in value.items()) + " }"


def _toml_string(text: str) -> str:
    escaped = "".join(
        "\\" + ch if ch in '"\\' else f"\\u{ord(ch):04x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch
        for ch in text
    )
    return f'"{escaped}"'


def _render(data: dict[str, Any], order: st.DataObject | None, style: str) -> str:
    """Render nested tables as standard tables, inline tables or dotted keys."""
    lines = ["# a comment that changes nothing"]

    def keys(table: dict[str, Any]) -> list[str]:
        names = list(table)
        return order.draw(st.permutations(names)) if order is not None else names

    def emit(prefix: list[str], table: dict[str, Any]) -> None:
        scalars = [k for k in keys(table) if not isinstance(table[k], dict) or style == "inline"]
        subtables = [k for k in keys(table) if k not in scalars]
        if prefix and scalars:
            lines.append("")
            lines.append("[" + ".".join(prefix) + "]   # header")
        for name in scalars:
            if style == "dotted" and not prefix:
                continue
            lines.append(f"{name} = {_value(table[name])}")
        for name in subtables:
            emit(prefix + [name], table[name])

    if style == "dotted":
        def flat(prefix: list[str], value: Any) -> None:
            if isinstance(value, dict) and value:
                for name in keys(value):
                    flat(prefix + [name], value[name])
            else:
                lines.append(".".join(_toml_string(p) for p in prefix) + f" = {_value(value)}")
        flat([], data)
    else:
        emit([], data)
    return "\n".join(lines) + "\n"


EXAMPLE_DATA = tomllib.loads(TOML.decode())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.data(), style=st.sampled_from(["standard", "inline", "dotted"]))
def test_blocks_do_not_depend_on_layout(order: st.DataObject, style: str) -> None:
    text = _render(EXAMPLE_DATA, order, style)
    assert tomllib.loads(text) == EXAMPLE_DATA
    original = compile_sources(sources()).content
    relaid = compile_sources(sources(text.encode())).content
    differing = {key for key in CONTENT_KEYS if original[key] != relaid[key]}
    assert differing == ({"source_digests"} if text.encode() != TOML else set())
    assert relaid["source_digests"][POLICY] == hashlib.sha256(text.encode()).hexdigest()


def test_same_inputs_same_hash_and_independent_of_provenance() -> None:
    first, second = compile_sources(sources()), compile_sources(sources())
    assert first.hash == second.hash
    assert first.validated
    one = document()
    other = document(policy_id="1c8f6d52-3f5e-4c8e-9d57-1a2b3c4d5e6f", created_at="2030-01-01T00:00:00.000001Z",
                     commit=None, trigger="run_start")
    assert one["hash"] == other["hash"] == first.hash
    assert one["provenance"] == {"commit": "a" * 40, "dirty": False, "trigger": "manual",
                                 "validated": True, "tool_version": one["provenance"]["tool_version"]}
    assert other["provenance"]["dirty"] is True


def test_hash_is_sha256_of_the_canonical_content() -> None:
    doc = document()
    content = {key: doc[key] for key in CONTENT_KEYS}
    assert set(CONTENT_KEYS) == {"schema_version", "routing", "capture", "budgets", "gates",
                                 "model_config", "weights", "prompts", "source_files", "source_digests"}
    assert doc["hash"] == hashlib.sha256(rfc8785.dumps(content)).hexdigest()
    assert document_bytes(doc) == rfc8785.dumps(doc)
    assert doc["source_files"] == [DOC, POLICY]
    assert doc["source_digests"] == {DOC: hashlib.sha256(MD).hexdigest(), POLICY: hashlib.sha256(TOML).hexdigest()}
    # Changing anything outside the content does not change the hash.
    for key, value in [("policy_id", "1c8f6d52-3f5e-4c8e-9d57-1a2b3c4d5e6f"),
                       ("created_at", "1999-01-01T00:00:00.000000Z"), ("provenance", {"x": 1}),
                       ("extra", [1, 2])]:
        assert content_hash(dict(doc, **{key: value})) == doc["hash"]


# (old text, replacement) edits, each a change to one policy value
_VALUE_EDITS = [
    ("plan = 8000", "plan = 8001"),
    ('mode = "prompts_only"', 'mode = "full_io"'),
    ("store_embeddings = true", "store_embeddings = false"),
    ('judge = ["claude-sonnet-4-20250514"]', 'judge = ["claude-sonnet-4-20250514", "gpt-4o"]'),
    ('architect = ["claude-sonnet-4-20250514", "gpt-4o"]', 'architect = ["gpt-4o", "claude-sonnet-4-20250514"]'),
    ("warn_threshold = 5.0", "warn_threshold = 5.5"),
    ("p95_latency_ms = 2000", "p95_latency_ms = 2001"),
    ("stability_days = 30", "stability_days = 0"),
    ("enabled = false", "enabled = true"),
    ("temperature = 0.2", "temperature = 0.20001"),
    ("temperature = 0.2", 'temperature = "0.2"'),
    ("max_output_tokens = 4096", "max_output_tokens = 4096.5"),
    ("judge_agreement = 0.6", "judge_agreement = 0.6\nextra = 0"),
    ('judge_system = "You are the judge.', 'judge_system = "You are a judge.'),
]


@pytest.mark.parametrize("old,new", _VALUE_EDITS)
def test_any_policy_value_change_changes_the_hash(old: str, new: str) -> None:
    edited = TOML.decode().replace(old, new, 1).encode()
    assert edited != TOML
    before, after = compile_sources(sources()), compile_sources(sources(edited))
    assert after.validated
    assert before.hash != after.hash
    assert before.content["source_digests"] != after.content["source_digests"]


@settings(max_examples=50, deadline=None)
@given(
    weight=st.one_of(st.integers(-(2**53) + 1, 2**53 - 1), st.floats(allow_nan=False, allow_infinity=False),
                     st.text(max_size=20), st.booleans()),
)
def test_free_form_values_hash_distinctly(weight: Any) -> None:
    base = compile_sources(sources())
    text = TOML.decode().replace("judge_agreement = 0.6", f"judge_agreement = {_value(weight)}")
    compiled = compile_sources(sources(text.encode()))
    assert compiled.content["weights"]["judge_agreement"] == weight
    assert (compiled.hash == base.hash) == (text.encode() == TOML)
    again = compile_sources(sources(text.encode()))
    assert again.hash == compiled.hash


@settings(max_examples=40, deadline=None)
@given(extra=st.binary(min_size=1, max_size=64))
def test_any_change_to_the_markdown_bytes_changes_the_hash(extra: bytes) -> None:
    base = compile_sources(sources())
    changed = compile_sources(sources(md=MD + extra))
    assert changed.hash != base.hash
    assert {k for k in CONTENT_KEYS if base.content[k] != changed.content[k]} == {"source_digests"}


def test_whitespace_only_change_to_the_toml_changes_the_hash() -> None:
    base = compile_sources(sources())
    changed = compile_sources(sources(TOML + b"\n"))
    assert changed.hash != base.hash
    assert {k for k in CONTENT_KEYS if base.content[k] != changed.content[k]} == {"source_digests"}


@settings(max_examples=30, deadline=None)
@given(name=st.from_regex(r"[a-z][a-z0-9_/-]{0,20}\.toml", fullmatch=True))
def test_a_different_source_path_changes_the_hash(name: str) -> None:
    base = compile_sources(sources())
    moved = compile_sources(sources(paths=SourcePaths(policy=name, doc=DOC)))
    assert (moved.hash == base.hash) == (name == POLICY)
    if name != POLICY:
        assert moved.content["source_files"] == sorted([name, DOC])


def test_invalid_policy_compiles_marked() -> None:
    compiled = compile_sources(sources(TOML.replace(b"plan = 8000", b"plan = 0")))
    assert compiled.validated is False
    assert [i.key for i in compiled.issues] == ["budgets.tokens.plan"]
    assert compiled.content["budgets"]["tokens"]["plan"] == 0


@pytest.mark.parametrize("edit", [
    (b"temperature = 0.2", b"temperature = 1979-05-27T07:32:00Z"),
    (b"max_output_tokens = 4096", b"max_output_tokens = 9007199254740993"),
    (b"plan = 8000", b"plan = 9007199254740993"),
    (b"plan = 8000", b"plan = 1979-05-27"),
    (b"plan = 8000", b"plan = = 1"),
])
def test_unrepresentable_or_unparsable_policy_does_not_compile(edit: tuple[bytes, bytes]) -> None:
    with pytest.raises(PolicyInvalid, match=POLICY) as caught:
        compile_sources(sources(TOML.replace(*edit)))
    assert all(issue.file == POLICY and issue.line for issue in caught.value.issues)


# ---- load_document -----------------------------------------------------------------------


def test_load_round_trip() -> None:
    doc = document()
    assert load_document(document_bytes(doc), "x.json") == doc


def test_load_refuses_hash_mismatch_naming_the_path() -> None:
    doc = document()
    doc["budgets"]["tokens"]["plan"] = 1
    with pytest.raises(SnapshotCorrupt, match="hash mismatch") as caught:
        load_document(document_bytes(doc), ".speckit/policies/snapshot-x.json")
    assert str(caught.value).startswith(".speckit/policies/snapshot-x.json: hash mismatch: recorded ")
    assert caught.value.exit_code == 1


@pytest.mark.parametrize("version,accepted", [("1.0", True), ("1.7", True), ("2.0", False), ("0.9", False),
                                              ("one", False), (1, False)])
def test_schema_major(version: Any, accepted: bool) -> None:
    doc = document()
    doc["schema_version"] = version
    doc["hash"] = content_hash(doc)
    data = document_bytes(doc)
    if accepted:
        assert load_document(data, "p")["schema_version"] == version
    else:
        with pytest.raises(SnapshotCorrupt, match="^p: schema_version"):
            load_document(data, "p")


def test_unknown_major_message() -> None:
    doc = dict(document(), schema_version="2.0")
    with pytest.raises(SnapshotCorrupt, match="not supported") as caught:
        load_document(document_bytes(doc), "p")
    assert str(caught.value) == "p: schema_version 2.0 is not supported (this tool reads 1.x); upgrade speckit-git-policy"


@pytest.mark.parametrize("key", ["routing", "source_digests", "policy_id", "hash", "created_at"])
def test_load_refuses_missing_keys(key: str) -> None:
    doc = document()
    del doc[key]
    with pytest.raises(SnapshotCorrupt, match=f"^p: missing {key}$"):
        load_document(document_bytes(doc), "p")


@pytest.mark.parametrize("data,reason", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b'{"a": NaN}', "not valid JSON"),
    (b"[]", "not a JSON object"),
    (b'{"schema_version": "1.0", "schema_version": "1.0"}', "not valid JSON"),
])
def test_load_refuses_invalid_json(data: bytes, reason: str) -> None:
    with pytest.raises(SnapshotCorrupt, match=f"^p: {reason}"):
        load_document(data, "p")


def test_load_refuses_a_policy_id_that_is_not_a_uuid4() -> None:
    doc = dict(document(), policy_id="../../etc/passwd")
    with pytest.raises(SnapshotCorrupt, match="is not a uuid4"):
        load_document(document_bytes(doc), "p")


def test_diff_is_key_level_and_json_typed() -> None:
    old = document()
    new = document(TOML.replace(b"plan = 8000", b"plan = 9000").replace(b"judge_agreement = 0.6", b"judge_agreement = 1"))
    changes = diff_documents(old, new)
    keys = [c["key"] for c in changes]
    assert keys == sorted(keys)
    assert {"key": "budgets.tokens.plan", "old": 8000, "new": 9000} in changes
    assert {"key": "weights.judge_agreement", "old": 0.6, "new": 1} in changes
    assert f"source_digests.{POLICY}" in keys
    assert diff_documents(old, old) == []


def test_snapshot_policy_blocks_are_the_checkers() -> None:
    # snapshot.py writes them out so that a cached capture never imports the checker.
    from speckit_git_policy import snapshot
    from speckit_git_policy.policy import checker as checks

    assert snapshot.POLICY_BLOCKS == checks.POLICY_BLOCKS
