"""route, budget and gate on the command line: --json documents and exit codes (docs/DESIGN.md §9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import EXAMPLE_POLICY, git

from speckit_git_policy import runs
from speckit_git_policy.cli import cli


def invoke(repo: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(repo), *args])


def decided(repo: Path, *args: str, exit_code: int) -> dict[str, Any]:
    """Run a command with --json; it must exit as expected and print one JSON document."""
    result = invoke(repo, *args, "--json")
    assert result.exit_code == exit_code, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def failed(repo: Path, *args: str, exit_code: int = 2) -> str:
    result = invoke(repo, *args)
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output
    return result.stderr


def commit_policy(repo: Path, *replacements: tuple[str, str]) -> None:
    text = EXAMPLE_POLICY.read_text()
    for old, new in replacements:
        text = text.replace(old, new)
    (repo / "model_policy.toml").write_text(text)
    git(repo, "commit", "-q", "-am", "Change policy")


def samples(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ---- route -------------------------------------------------------------------------------


def test_route_names_the_snapshot_it_was_made_under(policy_repo: Path) -> None:
    document = decided(policy_repo, "route", "architect", exit_code=0)
    current = decided(policy_repo, "current", exit_code=0)
    assert document["type"] == "RouteDecision"
    assert (document["policy_id"], document["policy_hash"], document["policy_uri"]) == (
        current["policy_id"], current["hash"], current["uri"])
    assert document["candidates"] == ["claude-sonnet-4-20250514", "gpt-4o"]
    assert document["reflex"] is None and "enabled is false" in document["reflex_reason"]

    text = invoke(policy_repo, "route", "architect")
    assert text.exit_code == 0
    assert "architect: claude-sonnet-4-20250514, gpt-4o" in text.stdout
    assert current["uri"] in text.stdout


def test_unknown_role_is_bad_input(policy_repo: Path) -> None:
    assert "did you mean 'architect'" in failed(policy_repo, "route", "architekt")


def test_route_offers_reflex_when_its_gate_passes(policy_repo: Path, tmp_path: Path) -> None:
    commit_policy(policy_repo, ("enabled = false", "enabled = true"))
    fast = samples(tmp_path, "fast.txt", "# ms\n120\n1999\n2000\n")
    slow = samples(tmp_path, "slow.txt", "120\n2001\n")
    offered = decided(policy_repo, "route", "judge", "--reflex-samples", fast,
                      "--reflex-success", "85/100", exit_code=0)
    assert offered["reflex"] == {"endpoint": "http://127.0.0.1:3009/v1", "model": "qwen2.5-coder-7b-instruct"}
    assert offered["gate"]["decision"] == "pass"
    refused = decided(policy_repo, "route", "judge", "--reflex-samples", slow,
                      "--reflex-success", "85/100", exit_code=0)
    assert refused["reflex"] is None and "gate failed" in refused["reflex_reason"]
    assert refused["candidates"] == offered["candidates"] == ["claude-sonnet-4-20250514"]
    assert "go together" in failed(policy_repo, "route", "judge", "--reflex-samples", fast)


# ---- budgets -----------------------------------------------------------------------------


@pytest.mark.parametrize(("tokens", "decision", "exit_code"), [
    ("4000", "allow", 0), ("4001", "deny", 1), ("0", "allow", 0)])
def test_budget_tokens(policy_repo: Path, tokens: str, decision: str, exit_code: int) -> None:
    document = decided(policy_repo, "budget", "tokens", "tasks", tokens, exit_code=exit_code)
    assert (document["type"], document["kind"]) == ("BudgetDecision", "tokens")
    assert (document["decision"], document["budget"], document["tokens"]) == (decision, 4000, int(tokens))


def test_stage_without_budget_exits_1(policy_repo: Path) -> None:
    document = decided(policy_repo, "budget", "tokens", "review", "1", exit_code=1)
    assert (document["decision"], document["budget"], document["ok"]) == ("no_budget", None, False)
    human = invoke(policy_repo, "budget", "tokens", "review", "1")
    assert human.exit_code == 1 and human.stdout.startswith("no_budget: stage 'review' has no token budget")


@pytest.mark.parametrize("args", [("plan", "many"), ("plan", "--", "-5"), ("plan",)])
def test_bad_token_counts(policy_repo: Path, args: tuple[str, ...]) -> None:
    failed(policy_repo, "budget", "tokens", *args)


@pytest.mark.parametrize(("amount", "decision", "exit_code"), [
    ("0", "ok", 0), ("4.99", "ok", 0), ("5", "warn", 0), ("5.0", "warn", 0), ("24.999", "warn", 0),
    ("25", "deny", 1), ("25.00", "deny", 1), ("1e3", "deny", 1)])
def test_budget_cost_boundaries(policy_repo: Path, amount: str, decision: str, exit_code: int) -> None:
    document = decided(policy_repo, "budget", "cost", amount, exit_code=exit_code)
    assert (document["decision"], document["warn_threshold"], document["hard_limit"]) == (decision, 5.0, 25.0)
    assert document["ok"] is (exit_code == 0)


@pytest.mark.parametrize("args", [("nan",), ("inf",), ("five",), ("--", "-1"), ()])
def test_bad_costs(policy_repo: Path, args: tuple[str, ...]) -> None:
    failed(policy_repo, "budget", "cost", *args)


# ---- gates -------------------------------------------------------------------------------


def test_gate_reflex_promotion_at_the_limits_passes(policy_repo: Path, tmp_path: Path) -> None:
    at_limit = samples(tmp_path, "at.json", json.dumps([100] * 18 + [2000, 2000]))
    document = decided(policy_repo, "gate", "reflex_promotion", "--samples", at_limit,
                       "--success", "85/100", exit_code=0)
    assert document["type"] == "GateDecision" and document["decision"] == "pass"
    assert [(c["name"], c["threshold"], c["measured"], c["passed"]) for c in document["criteria"]] == [
        ("p95_latency_ms", 2000, 2000.0, True), ("success_parity_percent", 85, 85.0, True)]
    below = decided(policy_repo, "gate", "reflex_promotion", "--samples", at_limit,
                    "--success", "84/100", exit_code=1)
    assert below["decision"] == "fail" and "success_parity_percent" in below["reason"]
    human = invoke(policy_repo, "gate", "reflex_promotion", "--samples", at_limit, "--success", "84/100")
    assert human.exit_code == 1 and "FAIL  success_parity_percent" in human.stdout


@pytest.mark.parametrize(("text", "message"), [
    ("10\nNaN\n", "bad.txt:2: 'NaN' is not a finite number"),
    ("10\n-4\n", "bad.txt:2: '-4' is negative"),
    ("ten\n", "bad.txt:1: 'ten' is not a number"),
    ("", "bad.txt: no samples"),
])
def test_gate_bad_samples_name_file_and_line(policy_repo: Path, tmp_path: Path, text: str, message: str) -> None:
    path = samples(tmp_path, "bad.txt", text)
    assert message in failed(policy_repo, "gate", "reflex_promotion", "--samples", path, "--success", "1/1")


def test_gate_usage_errors(policy_repo: Path, tmp_path: Path) -> None:
    good = samples(tmp_path, "good.txt", "1\n")
    assert "did you mean 'reflex_promotion'" in failed(policy_repo, "gate", "reflex_promotions")
    failed(policy_repo, "gate", "reflex_promotion", "--samples", good)
    failed(policy_repo, "gate", "reflex_promotion", "--samples", good, "--success", "1/0")
    failed(policy_repo, "gate", "reflex_promotion", "--samples", str(tmp_path / "none.txt"), "--success", "1/1")
    failed(policy_repo, "gate", "local_memory_sunset", "--retrieval-parity")
    assert "required" in failed(policy_repo, "gate", "local_memory_sunset", "--stable-days", "30")


def test_gate_local_memory_sunset(policy_repo: Path, tmp_path: Path) -> None:
    local = samples(tmp_path, "local.txt", "40\n50\n")
    reference = samples(tmp_path, "reference.txt", "[50, 10]")
    document = decided(policy_repo, "gate", "local_memory_sunset", "--samples", local,
                       "--reference-samples", reference, "--stable-days", "30", exit_code=0)
    assert [(c["name"], c["threshold"], c["measured"], c["passed"]) for c in document["criteria"]] == [
        ("retrieval_p95_parity", 50.0, 50.0, True), ("stability_days", 30, 30, True)]
    short = decided(policy_repo, "gate", "local_memory_sunset", "--retrieval-parity",
                    "--stable-days", "29", exit_code=1)
    assert short["criteria"][1]["passed"] is False
    decided(policy_repo, "gate", "local_memory_sunset", "--no-retrieval-parity",
            "--stable-days", "30", exit_code=1)


# ---- which policy ------------------------------------------------------------------------


def test_explicit_policy_and_refusal_of_an_invalid_one(policy_repo: Path) -> None:
    first = decided(policy_repo, "budget", "tokens", "plan", "8000", exit_code=0)
    commit_policy(policy_repo, ("plan = 8000", "plan = 7000"))
    decided(policy_repo, "budget", "tokens", "plan", "8000", exit_code=1)
    again = decided(policy_repo, "budget", "tokens", "plan", "8000", "--policy", first["policy_id"][:8],
                    exit_code=0)
    assert again["policy_id"] == first["policy_id"]
    failed(policy_repo, "budget", "tokens", "plan", "1", "--policy", "ffffffff")
    commit_policy(policy_repo, ("hard_limit = 25.0", "hard_limit = 1.0"))
    assert "fails validation" in failed(policy_repo, "budget", "cost", "0", exit_code=1)


# ---- recording in a run ------------------------------------------------------------------


def test_decision_recorded_in_the_run_under_its_policy(policy_repo: Path) -> None:
    run = runs.start_run(policy_repo, "run-1")
    commit_policy(policy_repo, ("plan = 8000", "plan = 9000"))
    # the run is governed by the snapshot it started under (plan = 8000), not HEAD's
    denied = decided(policy_repo, "budget", "tokens", "plan", "8500", "--run", "run-1", exit_code=1)
    assert denied["policy_id"] == run.policy_id and denied["decision"] == "deny"
    assert denied["recorded"]["run_id"] == "run-1"
    decided(policy_repo, "budget", "tokens", "plan", "8500", exit_code=0)

    events = runs.run_events(policy_repo, "run-1")
    recorded = events[denied["recorded"]["seq"]]
    assert recorded["type"] == "BudgetDecision"
    assert recorded["event_id"] == denied["recorded"]["event_id"]
    assert (recorded["policy_id"], recorded["policy_hash"]) == (run.policy_id, run.policy_hash)
    assert recorded["decision"]["decision"] == "deny" and recorded["decision"]["budget"] == 8000

    head = decided(policy_repo, "route", "judge", exit_code=0)
    failed(policy_repo, "route", "judge", "--run", "run-1", "--policy", head["policy_id"])
    failed(policy_repo, "route", "judge", "--run", "no-such-run")
    assert len(runs.run_events(policy_repo, "run-1")) == len(events)
