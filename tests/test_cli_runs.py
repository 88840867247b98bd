"""run start|stage|checkpoint|show|list, trace and blame on the command line (docs/DESIGN.md §9)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import git

from speckit_git_policy.cli import cli


def invoke(repo: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(repo), *args])


def as_json(repo: Path, *args: str) -> Any:
    result = invoke(repo, *args, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return json.loads(result.stdout)


def failed(repo: Path, *args: str, exit_code: int = 2) -> str:
    result = invoke(repo, *args)
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


def test_run_start_json(policy_repo: Path) -> None:
    started = as_json(policy_repo, "run", "start", "--run-id", "cli-1")
    assert {"run_id", "policy_id", "policy_hash", "policy_uri"} <= set(started)
    assert started["run_id"] == "cli-1"
    assert started["policy_uri"] == f"mv2://default/policy/{started['policy_id']}"
    current = as_json(policy_repo, "current")
    assert started["policy_id"] == current["policy_id"] and started["policy_hash"] == current["hash"]


def test_run_start_text(policy_repo: Path) -> None:
    result = invoke(policy_repo, "run", "start", "--run-id", "cli-text")
    assert result.exit_code == 0
    assert result.stdout.startswith("started run cli-text under mv2://default/policy/")


def test_stage_checkpoint_show_and_list(policy_repo: Path) -> None:
    as_json(policy_repo, "run", "start", "--run-id", "flow")
    staged = as_json(policy_repo, "run", "stage", "flow", "plan")
    assert staged["type"] == "StageTransition" and (staged["from"], staged["to"]) == (None, "plan")
    checkpoint = as_json(policy_repo, "run", "checkpoint", "flow", "--label", "reviewed",
                         "--prompt", "P", "--output", "O")
    assert checkpoint["type"] == "Checkpoint" and checkpoint["label"] == "reviewed"
    assert checkpoint["payload"] == {"prompt": "P"} and checkpoint["dropped"] == ["output"]
    events = as_json(policy_repo, "run", "show", "flow")
    assert [e["seq"] for e in events] == [0, 1, 2]
    assert events[1] == staged and events[2] == checkpoint
    text = invoke(policy_repo, "run", "show", "flow").stdout.splitlines()
    assert len(text) == 3 and "- -> plan" in text[1] and "dropped: output" in text[2]
    [row] = as_json(policy_repo, "run", "list")
    assert row["run_id"] == "flow" and row["events"] == 3 and row["stage"] == "plan"


def test_trace_and_blame_json(policy_repo: Path) -> None:
    head = git(policy_repo, "rev-parse", "HEAD").strip()
    as_json(policy_repo, "run", "start", "--run-id", "audit")
    traced = as_json(policy_repo, "trace", "audit")
    assert set(traced) >= {"run_id", "events", "snapshots"}
    [snapshot] = traced["snapshots"]
    assert {"policy_id", "hash", "uri", "commit", "author", "date", "subject"} <= set(snapshot)
    assert snapshot["commit"] == head and snapshot["subject"] == "Add model policy"
    rows = as_json(policy_repo, "blame", "audit")
    assert all({"key", "value", "commit", "author", "date", "line"} <= set(r) for r in rows)
    assert {r["commit"] for r in rows} == {head}
    [plan] = as_json(policy_repo, "blame", "audit", "budgets.tokens.plan")
    assert plan["value"] == 8000 and isinstance(plan["line"], int)
    text = invoke(policy_repo, "trace", "audit").stdout
    assert "author  Ada Author <ada@example.com>" in text and "subject Add model policy" in text
    assert "budgets.tokens.plan = 8000" in invoke(policy_repo, "blame", "audit").stdout


@pytest.mark.parametrize("bad", ["", "a/b", "a..b", "a b", "a@{1}", "a~1", "a^b", "a:b", "x" * 129])
def test_bad_run_ids_exit_2(policy_repo: Path, bad: str) -> None:
    assert "run id" in failed(policy_repo, "run", "start", "--run-id", bad)


@pytest.mark.parametrize("args", [
    ("run", "show", "ghost"), ("run", "stage", "ghost", "plan"), ("run", "checkpoint", "ghost"),
    ("trace", "ghost"), ("blame", "ghost"),
])
def test_unknown_run_exit_2(policy_repo: Path, args: tuple[str, ...]) -> None:
    assert "ghost" in failed(policy_repo, *args)


def test_bad_stage_and_key_exit_2_with_hints(policy_repo: Path) -> None:
    as_json(policy_repo, "run", "start", "--run-id", "hints")
    assert "did you mean 'plan'" in failed(policy_repo, "run", "stage", "hints", "plann")
    assert "did you mean 'capture.mode'" in failed(policy_repo, "blame", "hints", "capture.mod")


def test_dirty_blame_and_disabled_capsule(policy_repo: Path) -> None:
    policy = policy_repo / "model_policy.toml"
    policy.write_text(policy.read_text().replace("plan = 8000", "plan = 8001"))
    as_json(policy_repo, "run", "start", "--run-id", "dirty")
    assert "uncommitted edits" in failed(policy_repo, "blame", "dirty")
    git(policy_repo, "config", "speckit.capsule", "false")
    assert "capsule is turned off" in failed(policy_repo, "run", "start", "--run-id", "off")


def test_console_script_end_to_end(policy_repo: Path) -> None:
    """The real entry point, as an agent runner without the library would call it."""
    def run(*args: str) -> Any:
        out = subprocess.run([sys.executable, "-m", "speckit_git_policy", "-C", str(policy_repo),
                              *args, "--json"], capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    started = run("run", "start")
    event = run("run", "stage", started["run_id"], "specify")
    assert event["run_id"] == started["run_id"] and event["policy_id"] == started["policy_id"]
