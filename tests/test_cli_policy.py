"""The policy commands of `git speckit-policy` (docs/DESIGN.md §9), with the capsule off and on,
and the bad inputs of issue 2 item 7: each a clear error that writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import EXAMPLE_POLICY, git
from jsonschema import Draft202012Validator

from speckit_git_policy.cli import cli
from speckit_git_policy.policy.model import parse_toml

POLICY = "model_policy.toml"
DOC = "docs/MODEL-POLICY.md"


@pytest.fixture(params=["capsule-off", "capsule-on"])
def cli_repo(request: pytest.FixtureRequest, policy_repo: Path) -> Path:
    git(policy_repo, "config", "speckit.capsule", "false" if request.param == "capsule-off" else "true")
    return policy_repo


def run(repo: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["-C", str(repo), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def ok_json(repo: Path, *args: str) -> Any:
    result = run(repo, *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def assert_one_line_error(result: Any, code: int, fragment: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0]
    assert "Traceback" not in result.stderr


def speckit_state(root: Path) -> list[str]:
    base = root / ".speckit"
    files = sorted(str(p.relative_to(root)) for p in base.rglob("*")) if base.exists() else []
    refs = git(root, "for-each-ref", "refs/speckit/").splitlines()
    return files + refs


def edit_policy(root: Path, old: str, new: str) -> None:
    path = root / POLICY
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


# ---- validate ------------------------------------------------------------------------


def test_validate_ok(cli_repo: Path) -> None:
    result = run(cli_repo, "validate")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "policy is valid\n", "")
    assert ok_json(cli_repo, "validate") == {"ok": True, "errors": []}


def test_validate_errors(cli_repo: Path) -> None:
    edit_policy(cli_repo, "store_embeddings = true", "store_embedings = true")
    line = (cli_repo / POLICY).read_text().splitlines().index("store_embedings = true") + 1
    result = run(cli_repo, "validate", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"ok": False, "errors": [{
        "file": POLICY, "line": line, "key": "capture.store_embedings",
        "message": "unknown key; did you mean 'store_embeddings'?",
    }]}
    plain = run(cli_repo, "validate")
    assert plain.exit_code == 1
    assert plain.stderr == f"{POLICY}:{line}: capture.store_embedings: unknown key; did you mean 'store_embeddings'?\n"


def test_validate_staged(cli_repo: Path) -> None:
    edit_policy(cli_repo, "plan = 8000", "plan = 0")
    git(cli_repo, "add", POLICY)
    edit_policy(cli_repo, "plan = 0", "plan = 8000")
    assert run(cli_repo, "validate").exit_code == 0
    result = run(cli_repo, "validate", "--staged", "--json")
    assert result.exit_code == 1
    assert [e["key"] for e in json.loads(result.stdout)["errors"]] == ["budgets.tokens.plan"]


# ---- capture, list, show, current, diff --------------------------------------------------


def test_capture_list_show_current(cli_repo: Path) -> None:
    head = git(cli_repo, "rev-parse", "HEAD").strip()
    first = ok_json(cli_repo, "capture")
    assert set(first) >= {"policy_id", "hash", "uri", "path", "commit", "created"}
    assert first["commit"] == head and first["created"] is True
    assert first["uri"] == f"mv2://default/policy/{first['policy_id']}"
    assert first["path"] == f".speckit/policies/snapshot-{first['policy_id']}.json"
    assert git(cli_repo, "status", "--porcelain") == ""

    again = ok_json(cli_repo, "capture")
    assert again == dict(first, created=False)

    listed = ok_json(cli_repo, "list")
    assert listed == [{"policy_id": first["policy_id"], "hash": first["hash"],
                       "created_at": listed[0]["created_at"], "commit": head, "uri": first["uri"]}]

    shown = ok_json(cli_repo, "show", first["policy_id"])
    assert (shown["policy_id"], shown["hash"]) == (first["policy_id"], first["hash"])
    assert shown["bindings"] == [{"commit": head, "rewritten_from": [],
                                  "bound_at": shown["bindings"][0]["bound_at"]}]
    for ref in (first["policy_id"][:8], first["uri"], "current"):
        assert ok_json(cli_repo, "show", ref) == shown

    raw = run(cli_repo, "show", "--raw", first["policy_id"])
    assert raw.exit_code == 0
    assert raw.stdout_bytes == (cli_repo / first["path"]).read_bytes()

    assert ok_json(cli_repo, "current") == {"policy_id": first["policy_id"], "hash": first["hash"],
                                            "commit": head, "drift": False, "uri": first["uri"]}
    edit_policy(cli_repo, "plan = 8000", "plan = 8001")
    assert ok_json(cli_repo, "current")["drift"] is True

    dirty = ok_json(cli_repo, "capture")
    assert dirty["commit"] is None and dirty["created"] is True
    assert [row["policy_id"] for row in ok_json(cli_repo, "list")] == [dirty["policy_id"], first["policy_id"]]

    changes = ok_json(cli_repo, "diff", first["policy_id"], dirty["policy_id"])
    assert {"key": "budgets.tokens.plan", "old": 8000, "new": 8001} in changes
    assert [c["key"] for c in changes] == ["budgets.tokens.plan", f"source_digests.{POLICY}"]
    assert all(set(c) == {"key", "old", "new"} for c in changes)
    text = run(cli_repo, "diff", first["policy_id"][:8], dirty["policy_id"][:8])
    assert text.exit_code == 0 and "budgets.tokens.plan: 8000 -> 8001\n" in text.stdout


def test_current_when_never_captured(cli_repo: Path) -> None:
    state = ok_json(cli_repo, "current")
    assert state["policy_id"] is None and state["drift"] is True
    assert_one_line_error(run(cli_repo, "show", "current"), 2, "was never captured")


def test_capture_commit_reads_that_tree(cli_repo: Path) -> None:
    c0 = git(cli_repo, "rev-parse", "HEAD").strip()
    edit_policy(cli_repo, "plan = 8000", "plan = 9000")
    git(cli_repo, "commit", "-q", "-am", "raise")
    (cli_repo / POLICY).write_text("broken = [")
    result = ok_json(cli_repo, "capture", "--commit", c0[:10])
    assert result["commit"] == c0 and result["created"] is True
    assert ok_json(cli_repo, "show", result["policy_id"])["budgets"]["tokens"]["plan"] == 8000


def test_show_prefix_errors(cli_repo: Path) -> None:
    ids: set[str] = set()
    first_chars: list[str] = []
    i = 0
    # Ids are random: capture until two share a first hex digit (at most 17, by pigeonhole).
    while len(set(first_chars)) == len(first_chars) or len(first_chars) < 2:
        edit_policy(cli_repo, f"plan = {8000 + i}", f"plan = {8001 + i}")
        ids.add(ok_json(cli_repo, "capture")["policy_id"])
        first_chars = [policy_id[0] for policy_id in ids]
        i += 1
    shared = next(c for c in first_chars if first_chars.count(c) > 1)
    assert_one_line_error(run(cli_repo, "show", shared), 2, "ambiguous")
    missing = next(c for c in "0123456789abcdef" if c not in first_chars) * 8
    assert_one_line_error(run(cli_repo, "show", missing), 2, "no snapshot id starts with")
    assert_one_line_error(run(cli_repo, "show", "0b8f6d52-3f5e-4c8e-9d57-1a2b3c4d5e6f"), 2, "no snapshot")
    assert_one_line_error(run(cli_repo, "show", "mv2://other/policy/0b8f6d52-3f5e-4c8e-9d57-1a2b3c4d5e6f"), 2,
                          "workspace")
    assert_one_line_error(run(cli_repo, "diff", shared, missing), 2, "")


def test_schema_is_a_valid_json_schema_accepting_the_example() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    example, _ = parse_toml(EXAMPLE_POLICY.read_bytes(), POLICY)
    assert list(validator.iter_errors(example)) == []
    bad = dict(example, capture={"mode": "everything"})
    assert list(validator.iter_errors(bad)) != []
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_not_a_repository(tmp_path: Path) -> None:
    assert_one_line_error(CliRunner().invoke(cli, ["-C", str(tmp_path), "list"]), 2, "not a git repository")
    assert_one_line_error(CliRunner().invoke(cli, ["-C", str(tmp_path / "nope"), "list"]), 2,
                          "no such directory")


# ---- bad input: a clear error, nothing written ---------------------------------------------


BAD_EDITS = {
    "malformed TOML": ("plan = 8000", "plan = = 8000", "invalid TOML"),
    "wrong type": ("plan = 8000", 'plan = "lots"', "budgets.tokens.plan: expected an integer"),
    "out of range": ("success_parity_percent = 85", "success_parity_percent = 120", "of at most 100"),
    "unknown key": ("[weights]", "[weight]", "did you mean 'weights'"),
    "date-time": ("temperature = 0.2", "temperature = 2026-01-01T00:00:00Z", "TOML date/time"),
}


@pytest.mark.parametrize("case", list(BAD_EDITS))
def test_bad_policy_is_refused_and_nothing_written(cli_repo: Path, case: str) -> None:
    old, new, fragment = BAD_EDITS[case]
    edit_policy(cli_repo, old, new)
    line = (cli_repo / POLICY).read_text().splitlines().index(next(
        ln for ln in (cli_repo / POLICY).read_text().splitlines() if new.splitlines()[0] in ln)) + 1
    before = speckit_state(cli_repo)
    exclude = (cli_repo / ".git" / "info" / "exclude").read_bytes()
    validated = run(cli_repo, "validate")
    assert validated.exit_code == 1 and f"{POLICY}:{line}:" in validated.stderr and fragment in validated.stderr
    assert_one_line_error(run(cli_repo, "capture"), 1, f"{POLICY}:{line}:")
    assert speckit_state(cli_repo) == before == []
    assert (cli_repo / ".git" / "info" / "exclude").read_bytes() == exclude


def test_invalid_policy_recorded_only_when_asked(cli_repo: Path) -> None:
    edit_policy(cli_repo, "plan = 8000", "plan = 0")
    result = run(cli_repo, "capture", "--allow-invalid", "--json")
    assert result.exit_code == 0
    captured = json.loads(result.stdout)
    assert captured["validated"] is False
    assert ok_json(cli_repo, "show", captured["policy_id"])["provenance"]["validated"] is False


@pytest.mark.parametrize("content,fragment", [
    (b"", "file is empty"),
    (b"[capture]\nmode = \"caf\xe9\"\n", "is not valid UTF-8"),
])
def test_empty_and_non_utf8_policy(cli_repo: Path, content: bytes, fragment: str) -> None:
    (cli_repo / POLICY).write_bytes(content)
    assert run(cli_repo, "validate").exit_code == 1
    assert_one_line_error(run(cli_repo, "capture"), 1, fragment)
    assert speckit_state(cli_repo) == []


def test_empty_doc(cli_repo: Path) -> None:
    (cli_repo / DOC).write_text("")
    assert_one_line_error(run(cli_repo, "capture"), 1, "rationale document is empty")
    assert speckit_state(cli_repo) == []


def test_missing_source(cli_repo: Path) -> None:
    (cli_repo / DOC).unlink()
    result = run(cli_repo, "validate", "--json")
    assert json.loads(result.stdout)["errors"] == [
        {"file": DOC, "line": None, "key": "", "message": "required policy source file is missing"}]
    assert_one_line_error(run(cli_repo, "capture"), 1, "required policy source file is missing")
    assert speckit_state(cli_repo) == []


def test_huge_source(cli_repo: Path) -> None:
    with open(cli_repo / DOC, "wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    assert run(cli_repo, "validate").exit_code == 1
    assert_one_line_error(run(cli_repo, "capture"), 1, "a policy source may be at most")
    assert speckit_state(cli_repo) == []


def test_symlink_outside(cli_repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.toml"
    outside.write_bytes((cli_repo / POLICY).read_bytes())
    (cli_repo / POLICY).unlink()
    os.symlink(outside, cli_repo / POLICY)
    assert_one_line_error(run(cli_repo, "capture"), 1, "symlink leading outside the repository")
    git(cli_repo, "add", "-A")
    git(cli_repo, "commit", "-q", "-m", "link out")
    assert_one_line_error(run(cli_repo, "capture", "--commit", "HEAD"), 1, "symlink leading outside")
    assert speckit_state(cli_repo) == []


@pytest.mark.parametrize("ref", ["../../etc/passwd", "/etc/passwd", "mv2://default/policy/../../etc/passwd",
                                 "..", "x" * 40])
def test_show_path_like_ids_are_refused(cli_repo: Path, ref: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ok_json(cli_repo, "capture")
    opened: list[str] = []
    real_open = open

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    assert_one_line_error(run(cli_repo, "show", ref), 2, "")
    assert not [p for p in opened if "passwd" in p]


def test_corrupted_snapshot_is_reported_by_path(cli_repo: Path) -> None:
    git(cli_repo, "config", "speckit.capsule", "false")  # only the FS copy: nothing to fall back on
    first = ok_json(cli_repo, "capture")
    path = cli_repo / first["path"]
    path.write_bytes(path.read_bytes().replace(b'"plan":8000', b'"plan":8001'))
    assert_one_line_error(run(cli_repo, "show", first["policy_id"]), 1, f"{first['path']}: hash mismatch")
    assert_one_line_error(run(cli_repo, "show", "--raw", first["policy_id"]), 1, "hash mismatch")


def test_bad_usage_exit_codes(cli_repo: Path) -> None:
    assert run(cli_repo, "show").exit_code == 2
    assert run(cli_repo, "no-such-command").exit_code == 2
    assert_one_line_error(run(cli_repo, "capture", "--commit", "no-such-rev"), 2, "no such commit")


# ---- the real binaries ---------------------------------------------------------------------


def test_git_subcommand_and_python_module(policy_repo: Path) -> None:
    git(policy_repo, "config", "speckit.capsule", "false")
    out = subprocess.run(["git", "speckit-policy", "capture", "--json"], cwd=policy_repo,
                         capture_output=True, text=True, check=True)
    captured = json.loads(out.stdout)
    shown = subprocess.run([sys.executable, "-m", "speckit_git_policy", "-C", str(policy_repo), "show", "--raw",
                            captured["policy_id"]], capture_output=True, check=True)
    assert shown.stdout == (policy_repo / captured["path"]).read_bytes()
    failed = subprocess.run(["git", "speckit-policy", "show", "../../etc/passwd"], cwd=policy_repo,
                            capture_output=True, text=True, check=False)
    assert failed.returncode == 2 and failed.stdout == ""
    assert len(failed.stderr.splitlines()) == 1 and "Traceback" not in failed.stderr


def test_schema_accepts_json_flag_and_prints_the_same_document() -> None:
    plain = CliRunner().invoke(cli, ["schema"])
    flagged = CliRunner().invoke(cli, ["schema", "--json"])
    assert flagged.exit_code == 0, flagged.output
    assert json.loads(flagged.stdout) == json.loads(plain.stdout)
