"""cli/fast.py: the forms it runs print exactly what the click commands print (stdout,
stderr, exit code), errors and warnings included; every other command line is click's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git
from test_hook_settings import trace_calls

from speckit_git_policy.capture import capture
from speckit_git_policy.cli import fast
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.runs.run import start_run

CLICK = "import sys; from speckit_git_policy.cli.group import cli; cli.main(args=sys.argv[1:])"


def _run(argv: list[str], cwd: Path, **env: str) -> tuple[int, str, str]:
    result = subprocess.run(
        argv, cwd=cwd, capture_output=True, env={**os.environ, **env}, check=False
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def _both(cwd: Path, args: list[str], **env: str) -> tuple[tuple[int, str, str], ...]:
    """(the fast path's, click's) exit code, stdout and stderr for ``args``."""
    assert fast._parse(args) is not None, args
    return (
        _run([sys.executable, "-m", "speckit_git_policy", *args], cwd, **env),
        _run([sys.executable, "-c", CLICK, *args], cwd, **env),
    )


def _same(cwd: Path, args: list[str], **env: str) -> tuple[int, str, str]:
    fast_result, click_result = _both(cwd, args, **env)
    assert fast_result == click_result, args
    return fast_result


@pytest.mark.parametrize("args", [["current"], ["current", "--json"], ["list", "--json"]])
def test_queries_print_what_click_prints(
    policy_repo: Path, tmp_path: Path, args: list[str]
) -> None:
    # Never captured: current says so (and drift); list is empty.
    assert _same(policy_repo, args)[0] == 0
    capture(GitRepo.discover(policy_repo))
    code, out, _err = _same(policy_repo, args)
    assert code == 0 and out
    assert _same(tmp_path, ["-C", str(policy_repo), *args]) == (code, out, _err)
    # A work tree that drifted from HEAD.
    (policy_repo / "model_policy.toml").write_text(
        (policy_repo / "model_policy.toml").read_text() + "\n# edited\n"
    )
    _same(policy_repo, args)


@pytest.mark.parametrize("args", [["current"], ["list", "--json"], ["run", "checkpoint", "r-1"]])
def test_errors_print_what_click_prints(tmp_path: Path, repo: Path, args: list[str]) -> None:
    plain = tmp_path / "not-a-repo"
    plain.mkdir()
    for where in (["-C", str(tmp_path / "missing")], ["-C", str(plain)]):
        code, _out, err = _same(tmp_path, [*where, *args])
        assert code != 0 and err.startswith("error: ") and err.count("\n") == 1
    _same(tmp_path, ["-C", str(repo), *args])  # no commit yet
    # A broken capsule ref: CapsuleRefBroken with its fix.
    git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    ref = repo / ".git" / "refs" / "speckit" / "default" / "policy"
    ref.parent.mkdir(parents=True)
    ref.write_text("garbage\n")
    code, _out, err = _same(repo, args)
    assert code != 0 and err.startswith("error: ")


def test_a_skipped_bindings_blob_warns_alike(policy_repo: Path) -> None:
    from speckit_git_policy.store.capsule.layout import binding_path

    policy_id = capture(GitRepo.discover(policy_repo)).policy_id
    ref = "refs/speckit/default/policy"
    garbage = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=policy_repo, input=b"[1]", capture_output=True, check=True,
    ).stdout.decode().strip()  # fmt: skip
    env = {**os.environ, "GIT_INDEX_FILE": str(policy_repo / ".git" / "test-index")}
    git(policy_repo, "read-tree", ref, env=env)
    git(
        policy_repo,
        "update-index",
        "--cacheinfo",
        f"100644,{garbage},{binding_path(policy_id)}",
        env=env,
    )
    tree = git(policy_repo, "write-tree", env=env).strip()
    git(
        policy_repo,
        "update-ref",
        ref,
        git(policy_repo, "commit-tree", tree, "-p", ref, "-m", "x").strip(),
    )
    code, out, err = _same(policy_repo, ["list", "--json"])
    assert code == 0 and err.startswith("warning: ") and json.loads(out)


def _masked(text: str) -> object:
    """A checkpoint's output without what differs from one append to another."""
    import re

    try:
        event = json.loads(text)
    except ValueError:
        return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", "<time>", text)
    return {k: v for k, v in event.items() if k not in ("event_id", "timestamp")}


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--json"],
        ["--label", "reviewed"],
        ["--label", "é \x1b[31mred\x1b[0m \u202e", "--json"],
        ["--json", "--label", "x", "--prompt", "p", "--output", "o"],
        ["--output", "o"],
        ["--label", ""],
    ],
)
def test_checkpoint_appends_and_prints_what_click_prints(
    policy_repo: Path, tmp_path: Path, options: list[str]
) -> None:
    start_run(GitRepo.discover(policy_repo), "run-fast-1")
    other = tmp_path / "copy"
    shutil.copytree(policy_repo, other, symlinks=True)
    args = ["run", "checkpoint", "run-fast-1", *options]
    assert fast._parse(args) is not None
    fast_result = _run([sys.executable, "-m", "speckit_git_policy", *args], policy_repo)
    click_result = _run([sys.executable, "-c", CLICK, *args], other)
    assert fast_result[0] == click_result[0]
    assert fast_result[2] == click_result[2]
    assert _masked(fast_result[1]) == _masked(click_result[1])
    events = 2 if fast_result[0] == 0 else 1
    for root in (policy_repo, other):
        ref = "refs/speckit/default/runs/" + _shard()
        names = git(root, "ls-tree", "-r", "--name-only", ref).split()
        assert len(names) == 1 + events  # the summary and the events


def _shard() -> str:
    from speckit_git_policy.store.capsule.layout import run_shard

    return run_shard("run-fast-1")


def test_checkpoint_errors_print_what_click_prints(policy_repo: Path) -> None:
    for args in (["run", "checkpoint", "no-such-run"], ["run", "checkpoint", "bad id!"]):
        code, _out, err = _same(policy_repo, args)
        assert code == 2 and err.startswith("error: ")
    start_run(GitRepo.discover(policy_repo), "run-fast-2")
    git(policy_repo, "config", "speckit.capsule", "false")
    code, _out, err = _same(policy_repo, ["run", "checkpoint", "run-fast-2", "--label", "x"])
    assert code == 2 and "capsule is turned off" in err


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["-h"],
        ["--help"],
        ["current", "-h"],
        ["current", "--json", "--json"],
        ["current", "extra"],
        ["list"],
        ["list", "--json", "--json"],
        ["-C"],
        ["-C", "-x", "current"],
        ["-C", "a", "-C", "b", "current"],
        ["-Ca", "current"],
        ["current", "-C", "a"],
        ["--version"],
        ["run", "checkpoint"],
        ["run", "checkpoint", "--label", "x", "r"],
        ["run", "checkpoint", "r", "--label"],
        ["run", "checkpoint", "r", "--label", "-x"],
        ["run", "checkpoint", "r", "--label=x"],
        ["run", "checkpoint", "r", "--json", "--json"],
        ["run", "checkpoint", "r", "--label", "a", "--label", "b"],
        ["run", "checkpoint", "r", "--"],
        ["run", "checkpoint", "r", "extra"],
        ["run", "checkpoint", "-r"],
        ["run", "stage", "r", "plan"],
    ],
)
def test_every_other_command_line_is_clicks(args: list[str]) -> None:
    assert fast._parse(args) is None


def test_streams_click_would_wrap_and_completion_are_clicks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert fast._plain_streams() or sys.stdout.encoding.lower() != "utf-8"
    monkeypatch.setenv("_GIT_SPECKIT_POLICY_COMPLETE", "bash_complete")
    assert not fast._plain_streams()
    assert fast.run(["current"]) is None


def test_an_ascii_stdout_goes_to_click(policy_repo: Path) -> None:
    capture(GitRepo.discover(policy_repo))
    code, out, _err = _run(
        [
            sys.executable,
            "-c",
            "import sys; from speckit_git_policy.cli import main; main()",
            "current",
        ],
        policy_repo,
        PYTHONIOENCODING="ascii",
    )
    assert code == 0 and out


def test_a_checkpoint_asks_git_config_once_and_signs_as_the_user(
    policy_repo: Path, tmp_path: Path
) -> None:
    # One `config` call answers the speckit.* settings and the capsule commit's identity;
    # the run's packed events come through one `cat-file --batch`.
    start_run(GitRepo.discover(policy_repo), "run-fast-1")
    git(policy_repo, "gc", "-q")
    git(policy_repo, "config", "user.name", "Cora Checkpoint")
    git(policy_repo, "config", "user.email", "cora@example.com")
    trace = tmp_path / "trace"
    code, _out, err = _run(
        [sys.executable, "-m", "speckit_git_policy", "run", "checkpoint", "run-fast-1"],
        policy_repo,
        GIT_TRACE=str(trace),
        GIT_COMMITTER_NAME="",
        GIT_COMMITTER_EMAIL="",
    )
    assert code == 0, err
    calls = trace_calls(trace)
    asked = [call.split()[1] for call in calls]
    assert asked == ["rev-parse", "config", "cat-file"], calls
    assert calls[2].endswith("cat-file --batch"), calls
    ref = "refs/speckit/default/runs/" + _shard()
    assert git(policy_repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", ref).strip() == (
        "Cora Checkpoint <cora@example.com>|Cora Checkpoint <cora@example.com>"
    )
