"""End to end, through the real git binary and the installed hooks: policy files that
once crashed the tool or slipped past it.

A model_config nested thousands of levels deep crashed the checker with
RecursionError, which the pre-commit hook took for the tool's own failure and let
the commit through; a byte order mark got "Invalid statement"; an empty rationale
document still gave a snapshot marked validated. Each must now be a located
PolicyInvalid: pre-commit blocks the commit (exit 1, the message), ``capture
--commit`` fails with the message, and no traceback is printed anywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git
from test_hooks_support import commit, head, install_hooks, policy_text, set_policy, snapshot_of

POLICY = "model_policy.toml"
DOC = "docs/MODEL-POLICY.md"


@pytest.fixture
def hooked_policy(repo: Path) -> Path:
    install_hooks(repo)
    set_policy(repo)
    git(repo, "add", "-A")
    commit(repo, "Add model policy")
    return repo


def try_commit(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "commit", "-q", "-m", "edit the policy", *args], cwd=root,
                          capture_output=True, text=True, env=dict(os.environ), check=False)


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "speckit_git_policy", "-C", str(root), *args],
                          capture_output=True, text=True, check=False)


def no_crash(output: str) -> None:
    assert "Traceback" not in output
    assert "internal error" not in output
    assert "RecursionError" not in output


DEEP = {
    "tables": lambda levels: "[model_config" + ".a" * levels + "]\nx = 1\n",
    "dotted keys": lambda levels: "[model_config.deep]\n" + ".".join(["a"] * levels) + " = 1\n",
    "inline tables": lambda levels: "[model_config.deep]\nx = " + "{a = " * levels + "1" + "}" * levels + "\n",
    "arrays": lambda levels: "[model_config.deep]\nx = " + "[" * levels + "]" * levels + "\n",
}


@pytest.mark.parametrize("levels", [400, 10_000])
@pytest.mark.parametrize("kind", list(DEEP))
def test_deep_nesting_is_blocked_and_never_crashes(hooked_policy: Path, kind: str, levels: int) -> None:
    root = hooked_policy
    before = head(root)
    text = policy_text() + "\n" + DEEP[kind](levels)
    first = len((policy_text() + "\n").splitlines()) + 1  # the header, or the key on the next line
    (root / POLICY).write_text(text)
    git(root, "add", POLICY)

    refused = try_commit(root)
    assert refused.returncode == 1, refused.stderr
    assert head(root) == before
    no_crash(refused.stderr)
    located = [line for line in refused.stderr.splitlines() if line.startswith(f"{POLICY}:")]
    assert located and all("nested more than 64 levels deep" in line for line in located), refused.stderr
    line_numbers = {int(line.split(":")[1]) for line in located}
    assert line_numbers <= {first, first + 1}, refused.stderr
    assert "commit refused" in refused.stderr

    # Committed anyway: no snapshot, a warning, still no crash; capture says why.
    forced = try_commit(root, "--no-verify")
    assert forced.returncode == 0, forced.stderr
    no_crash(forced.stderr)
    assert "no policy snapshot" in forced.stderr
    for args in (("capture", "--commit", "HEAD"), ("capture", "--commit", "HEAD", "--allow-invalid"),
                 ("validate",)):
        result = cli(root, *args)
        assert result.returncode in (1, 2), (args, result.stderr)
        no_crash(result.stderr)
        assert "nested more than 64 levels deep" in result.stderr, (args, result.stderr)
        assert f"{POLICY}:" in result.stderr


def test_a_byte_order_mark_is_named(hooked_policy: Path) -> None:
    root = hooked_policy
    before = head(root)
    (root / POLICY).write_bytes(b"\xef\xbb\xbf" + policy_text(6.0).encode())
    git(root, "add", POLICY)
    refused = try_commit(root)
    assert refused.returncode == 1
    assert head(root) == before
    no_crash(refused.stderr)
    assert f"{POLICY}:1: starts with a UTF-8 byte order mark (BOM); save it without one" in refused.stderr
    assert try_commit(root, "--no-verify").returncode == 0
    result = cli(root, "capture", "--commit", "HEAD")
    assert result.returncode in (1, 2)
    no_crash(result.stderr)
    assert "byte order mark (BOM)" in result.stderr


def test_an_empty_rationale_blocks_the_commit_and_its_snapshot_is_not_validated(hooked_policy: Path) -> None:
    root = hooked_policy
    (root / DOC).write_text("\n")
    (root / POLICY).write_text(policy_text(6.0))
    git(root, "add", "-A")
    refused = try_commit(root)
    assert refused.returncode == 1
    assert f"{DOC}:1: rationale document is empty" in refused.stderr
    forced = try_commit(root, "--no-verify")
    assert forced.returncode == 0, forced.stderr
    document = snapshot_of(root, head(root))
    assert document["provenance"]["validated"] is False
    assert document["budgets"]["cost"]["warn_threshold"] == 6.0  # the policy itself is fine
