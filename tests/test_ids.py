"""Ids that end up in file names, refs and URIs: what is refused, and that the refusal
holds where it matters (the filesystem copy, the capsule, `show`, `run start`, the
workspace), not only in ids.py.

These tests kill mutants that the rest of the suite let live: the uuid4 pattern
accepting '.' or '/' or any version digit, the policy id prefix check switched off,
a trailing '.' in run ids, and the length limits off by one.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import git
from hypothesis import given
from hypothesis import strategies as st

from speckit_git_policy.canonical import canonical_bytes
from speckit_git_policy.cli import cli
from speckit_git_policy.errors import BadInput
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.ids import (
    RUN_ID_MAX,
    WORKSPACE_MAX,
    check_content_hash,
    check_policy_id_prefix,
    check_run_id,
    check_workspace,
    is_policy_id,
    is_run_id,
    new_policy_id,
)
from speckit_git_policy.store import Stores
from speckit_git_policy.store.capsule import layout
from speckit_git_policy.store.fs import FilesystemStore

V4 = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
GROUPS = [(0, 8), (9, 13), (15, 18), (19, 20), (20, 23), (24, 36)]  # every hex run of V4 but the version digit


def replaced(position: int, char: str) -> str:
    return V4[:position] + char + V4[position + 1:]


# Not a lowercase version-4 uuid, each for its own reason.
NOT_V4 = {
    "version 1": replaced(14, "1"),
    "version 5": replaced(14, "5"),
    "version 0": replaced(14, "0"),
    "variant 7": replaced(19, "7"),
    "variant c": replaced(19, "c"),
    "uppercase": V4.upper(),
    "one digit short": V4[:-1],
    "one digit long": V4 + "a",
    **{f"a '.' for dash {n}": replaced(position, ".") for n, position in enumerate((8, 13, 18, 23))},
    "no dashes": V4.replace("-", ""),
    **{f"'.' in group {n}": replaced(start, ".") for n, (start, _) in enumerate(GROUPS)},
    **{f"'/' in group {n}": replaced(end - 1, "/") for n, (_, end) in enumerate(GROUPS)},
    **{f"group {n} one longer": V4[:end] + "a" + V4[end:] for n, (_, end) in enumerate(GROUPS) if n != 3},
    **{f"group {n} one shorter": V4[:start] + V4[start + 1:] for n, (start, _) in enumerate(GROUPS) if n != 3},
}
# What a filename may hold: planted in .speckit/policies/, they must stay invisible.
PLANTABLE = {reason: value for reason, value in NOT_V4.items() if "/" not in value}


def invoke(repo: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(repo), *args])


def ok_json(repo: Path, *args: str) -> Any:
    result = invoke(repo, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def refused(repo: Path, *args: str, cause: str) -> str:
    """Exit 2, one error line on stderr saying ``cause``, nothing on stdout."""
    result = invoke(repo, *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert re.search(cause, result.stderr), result.stderr
    return result.stderr


# ---- policy ids ------------------------------------------------------------------------------
def test_a_version_4_uuid_is_a_policy_id() -> None:
    assert is_policy_id(V4)
    assert not is_policy_id(None)  # type: ignore[arg-type]
    assert not is_policy_id(int("3fa85f64", 16))  # type: ignore[arg-type]


@pytest.mark.parametrize("reason", sorted(NOT_V4))
def test_anything_else_is_not_a_policy_id(reason: str) -> None:
    value = NOT_V4[reason]
    assert not is_policy_id(value)
    with pytest.raises(BadInput, match="not a policy id"):
        layout.check_policy_id(value)


def test_new_policy_ids_are_random_version_4_uuids() -> None:
    ids = [new_policy_id() for _ in range(512)]
    assert len(set(ids)) == len(ids) and all(is_policy_id(i) for i in ids)
    assert {i[14] for i in ids} == {"4"} and {i[19] for i in ids} == set("89ab")
    # Every other digit is random: each position takes every hex digit over 512 ids
    # (the chance that one of them misses one is below 1e-12).
    random_positions = [p for p in range(36) if p not in (8, 13, 14, 18, 19, 23)]
    for position in random_positions:
        assert Counter(i[position] for i in ids).keys() == set("0123456789abcdef"), position
    # ... and independent: no digit is a copy of another (a version or variant bit set
    # from the wrong byte would repeat a neighbour's digit in every id).
    for n, p in enumerate(random_positions):
        for q in random_positions[n + 1:]:
            assert any(i[p] != i[q] for i in ids), (p, q)


@pytest.mark.parametrize("reason", sorted(NOT_V4))
def test_the_filesystem_copy_has_no_path_for_a_non_id(tmp_path: Path, reason: str) -> None:
    store = FilesystemStore(tmp_path / ".speckit")
    with pytest.raises(BadInput, match="not a policy id"):
        store.path_for(NOT_V4[reason])
    with pytest.raises(BadInput, match="not a policy id"):
        store.write(NOT_V4[reason], b"{}")
    assert not (tmp_path / ".speckit" / "policies").exists() or not any((tmp_path / ".speckit" / "policies").iterdir())


@pytest.mark.parametrize("reason", sorted(NOT_V4))
def test_the_capsule_has_no_place_for_a_non_id(policy_repo: Path, reason: str) -> None:
    value = NOT_V4[reason]
    with pytest.raises(BadInput, match="not a policy id"):
        layout.policy_uri("default", value)
    with pytest.raises(BadInput, match="not a policy id|expected mv2://"):  # a '/' splits the URI
        layout.parse_uri(f"mv2://default/policy/{value}")
    capsule = Stores(GitRepo.discover(policy_repo)).capsule
    assert capsule is not None
    with pytest.raises(BadInput, match="not a policy id"):
        capsule.get_snapshot(value)
    with pytest.raises(BadInput, match="not a policy id"):
        capsule.put_snapshot(value, "0" * 64, "2026-01-12T10:30:00.123456Z", b"{}")
    assert git(policy_repo, "for-each-ref", "refs/speckit/") == ""


@pytest.fixture
def planted(policy_repo: Path) -> tuple[Path, str]:
    """A repository with one real snapshot, and copies of it planted in
    .speckit/policies/ under names that are not policy ids; each copy names itself
    in its policy_id field and its hash still verifies (the hash covers the content
    only), so nothing but the id check can keep it out."""
    captured = ok_json(policy_repo, "capture")
    real = policy_repo / ".speckit" / "policies" / f"snapshot-{captured['policy_id']}.json"
    document = json.loads(real.read_bytes())
    for value in PLANTABLE.values():
        forged = canonical_bytes({**document, "policy_id": value})
        (real.parent / f"snapshot-{value}.json").write_bytes(forged)
    return policy_repo, captured["policy_id"]


@pytest.mark.parametrize("capsule", ["false", "true"])
def test_planted_files_under_non_ids_are_neither_listed_nor_shown(
    planted: tuple[Path, str], capsule: str
) -> None:
    repo, real_id = planted
    git(repo, "config", "speckit.capsule", capsule)
    assert [entry["policy_id"] for entry in ok_json(repo, "list")] == [real_id]
    assert ok_json(repo, "show", real_id)["policy_id"] == real_id
    for reason, value in PLANTABLE.items():
        result = invoke(repo, "show", value)
        assert result.exit_code == 2, (reason, result.output)
        assert value not in result.stdout


# ---- policy id prefixes -----------------------------------------------------------------------
@pytest.mark.parametrize("prefix", ["3", "3fa8", "3fa85f64-", V4])
def test_a_lowercase_hex_prefix_is_accepted(prefix: str) -> None:
    assert check_policy_id_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["", "3FA8", "3fa8/", "3fa8.", "../3fa8", "3fa8*", "g", " 3fa8",
                                    V4 + "0"])
def test_anything_else_is_not_a_prefix(prefix: str) -> None:
    with pytest.raises(BadInput, match="lowercase hex"):
        check_policy_id_prefix(prefix)


@pytest.mark.parametrize("capsule", ["false", "true"])
@pytest.mark.parametrize("prefix", ["", "3FA8", "3fa8/", "3fa8.", "../policies", "3fa8*", "*"])
def test_show_refuses_a_prefix_that_is_not_lowercase_hex(policy_repo: Path, capsule: str, prefix: str) -> None:
    git(policy_repo, "config", "speckit.capsule", capsule)
    ok_json(policy_repo, "capture")
    refused(policy_repo, "show", prefix, cause="lowercase hex")


@pytest.mark.parametrize("capsule", ["false", "true"])
def test_show_refuses_an_uppercase_copy_of_a_real_id(policy_repo: Path, capsule: str) -> None:
    """An uppercase id would be the same uuid to a lax reader: it is refused as bad
    input, not looked up (and found, or reported missing)."""
    git(policy_repo, "config", "speckit.capsule", capsule)
    policy_id = ok_json(policy_repo, "capture")["policy_id"]
    # A prefix of digits alone reads the same in upper case: take the shortest prefix of
    # at least 8 characters that holds a letter (an id without any: odds below 1e-6).
    letter = next(i for i, ch in enumerate(policy_id) if ch in "abcdef")
    short = policy_id[: max(8, letter + 1)]
    for text in (policy_id.upper(), short.upper()):
        assert text != text.lower()
        refused(policy_repo, "show", text, cause="lowercase hex")


# ---- run ids and workspaces ----------------------------------------------------------------------
NAMES_REFUSED = {
    "": "empty",
    "a/b": "contains '/'",
    "a b": "contains ' '",
    "a\nb": "contains",
    "é": "contains",
    ".hidden": "start with '.'",
    "a..b": "'\\.\\.'",
    "ends.": "end with",
    "ends.lock": "end with",
    "..": "start with '.'",
    ".": "start with '.'",
}
NAMES_ACCEPTED = ["a", "A-1", "run_2026.01.12", "x.y", "lock", "a.locked", "-", "_", "0"]


@pytest.mark.parametrize("check", [check_run_id, check_workspace])
@pytest.mark.parametrize("value", sorted(NAMES_REFUSED))
def test_names_refused(check: Any, value: str) -> None:
    with pytest.raises(BadInput, match=NAMES_REFUSED[value]):
        check(value)


@pytest.mark.parametrize(("check", "kind"), [(check_run_id, "run id"), (check_workspace, "workspace")])
@pytest.mark.parametrize("value", ["", "a/b", ".x", "x.", "a" * 200])
def test_a_refusal_says_which_name_is_wrong(check: Any, kind: str, value: str) -> None:
    with pytest.raises(BadInput, match=f"^{kind} "):
        check(value)


@pytest.mark.parametrize("check", [check_run_id, check_workspace])
@pytest.mark.parametrize("value", NAMES_ACCEPTED)
def test_names_accepted(check: Any, value: str) -> None:
    assert check(value) == value


def _takes(value: str) -> bool:
    try:
        check_run_id(value)
    except BadInput:
        return False
    return True


@given(st.text(alphabet="ab.-_/ \u00e9\nlock", max_size=12) | st.sampled_from(["a" * 128, "a" * 129]))
def test_is_run_id_answers_as_check_run_id_does(value: str) -> None:
    # the listings and the lint filter capsule names with is_run_id, without the message
    assert is_run_id(value) is _takes(value)


@pytest.mark.parametrize("value", sorted(NAMES_REFUSED) + NAMES_ACCEPTED)
def test_is_run_id_on_the_named_cases(value: str) -> None:
    assert is_run_id(value) is (value not in NAMES_REFUSED)
    assert is_run_id(None) is False


@pytest.mark.parametrize(("check", "limit"), [(check_run_id, 128), (check_workspace, 64)])
def test_name_length_limits(check: Any, limit: int) -> None:
    assert (RUN_ID_MAX, WORKSPACE_MAX) == (128, 64)  # what docs/CAPSULE-LAYOUT.md and the CLI promise
    assert check("a" * limit) == "a" * limit
    with pytest.raises(BadInput, match=f"longer than {limit}"):
        check("a" * (limit + 1))


@pytest.mark.parametrize("run_id", ["run.", "run.lock", "a" * 129, "../run", "run/1", ".run", "a..b"])
def test_run_start_refuses_a_bad_run_id_and_writes_nothing(policy_repo: Path, run_id: str) -> None:
    refused(policy_repo, "run", "start", "--run-id", run_id, cause="run id")
    assert git(policy_repo, "for-each-ref", "refs/speckit/default/runs/") == ""


def test_run_start_takes_the_longest_run_id(policy_repo: Path) -> None:
    started = ok_json(policy_repo, "run", "start", "--run-id", "r" * 128)
    assert started["run_id"] == "r" * 128
    refused(policy_repo, "run", "stage", "r" * 129, "plan", cause="longer than 128")


@pytest.mark.parametrize("workspace", ["w" * 65, "team.", "team.lock", "a/b", ".team"])
def test_a_bad_workspace_is_refused_before_anything_is_written(policy_repo: Path, workspace: str) -> None:
    git(policy_repo, "config", "speckit.workspace", workspace)
    refused(policy_repo, "capture", cause="workspace")
    assert git(policy_repo, "for-each-ref", "refs/speckit/") == ""


def test_the_longest_workspace_holds_a_capsule(policy_repo: Path) -> None:
    workspace = "w" * 64
    git(policy_repo, "config", "speckit.workspace", workspace)
    captured = ok_json(policy_repo, "capture")
    assert captured["uri"] == f"mv2://{workspace}/policy/{captured['policy_id']}"
    assert git(policy_repo, "for-each-ref", "--format=%(refname)", "refs/speckit/").split() == [
        f"refs/speckit/{workspace}/policy"]


# ---- content hashes ----------------------------------------------------------------------------
def test_a_content_hash_is_64_lowercase_hex_digits() -> None:
    digest = "0123456789abcdef" * 4
    assert check_content_hash(digest) == digest
    for bad in (digest[:-1], digest + "0", digest.upper(), "g" * 64, "", digest[:-1] + "/", digest[:-1] + "."):
        with pytest.raises(BadInput, match="sha256"):
            check_content_hash(bad)
