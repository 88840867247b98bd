"""enforce/decisions.py: every decision's --json document, field by field and in order.

The documents are public (``--json`` and the run log keep them), so each key, its value
and the verdict are pinned here for the four decisions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from conftest import EXAMPLE_POLICY, git

from speckit_git_policy import enforce
from speckit_git_policy.cli import cli
from speckit_git_policy.enforce.decisions import Decision
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.runs.run import Run

REF = ["policy_id", "policy_hash", "policy_uri"]


def decided(repo: Path, *args: str, exit_code: int) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["-C", str(repo), *args, "--json"])
    assert result.exit_code == exit_code, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def ref_of(repo: Path) -> dict[str, str]:
    policy = enforce.policy_in_force(GitRepo.discover(repo))
    return {"policy_id": policy.policy_id, "policy_hash": policy.policy_hash,
            "policy_uri": policy.policy_uri}


def commit_policy(repo: Path, old: str, new: str) -> None:
    text = EXAMPLE_POLICY.read_text()
    assert old in text
    (repo / "model_policy.toml").write_text(text.replace(old, new))
    git(repo, "commit", "-q", "-am", "Change policy")


def test_cost_decision_document(policy_repo: Path) -> None:
    document = decided(policy_repo, "budget", "cost", "7.5", exit_code=0)
    assert list(document) == ["type", "kind", *REF, "amount", "warn_threshold", "hard_limit",
                              "decision", "ok", "reason"]
    assert document == {"type": "BudgetDecision", "kind": "cost", **ref_of(policy_repo),
                        "amount": 7.5, "warn_threshold": 5.0, "hard_limit": 25.0,
                        "decision": "warn", "ok": True,
                        "reason": "cost 7.5 is at or above warn_threshold 5"}
    denied = decided(policy_repo, "budget", "cost", "25", exit_code=1)
    assert (denied["kind"], denied["amount"], denied["decision"], denied["ok"]) == ("cost", 25.0, "deny", False)
    below = decided(policy_repo, "budget", "cost", "0", exit_code=0)
    assert (below["decision"], below["ok"]) == ("ok", True)


def test_token_decision_document(policy_repo: Path) -> None:
    document = decided(policy_repo, "budget", "tokens", "plan", "8001", exit_code=1)
    assert list(document) == ["type", "kind", *REF, "stage", "tokens", "budget", "decision", "ok", "reason"]
    assert document == {"type": "BudgetDecision", "kind": "tokens", **ref_of(policy_repo),
                        "stage": "plan", "tokens": 8001, "budget": 8000, "decision": "deny", "ok": False,
                        "reason": "8001 tokens exceeds the plan budget of 8000 by 1"}
    unknown = decided(policy_repo, "budget", "tokens", "review", "1", exit_code=1)
    assert (unknown["budget"], unknown["decision"], unknown["ok"]) == (None, "no_budget", False)
    allowed = decided(policy_repo, "budget", "tokens", "plan", "8000", exit_code=0)
    assert (allowed["decision"], allowed["ok"]) == ("allow", True)


def test_route_decision_document(policy_repo: Path) -> None:
    document = decided(policy_repo, "route", "judge", exit_code=0)
    assert list(document) == ["type", *REF, "role", "decision", "ok", "candidates", "reflex",
                              "reflex_offered", "reflex_reason", "gate"]
    assert document == {"type": "RouteDecision", **ref_of(policy_repo), "role": "judge",
                        "decision": "allow", "ok": True, "candidates": ["claude-sonnet-4-20250514"],
                        "reflex": None, "reflex_offered": False,
                        "reflex_reason": "routing.reflex.enabled is false", "gate": None}


def test_route_with_a_passing_reflex_gate_offers_the_reflex_model(policy_repo: Path, tmp_path: Path) -> None:
    commit_policy(policy_repo, "enabled = false", "enabled = true")
    latencies = tmp_path / "latencies.txt"
    latencies.write_text("100\n200\n")
    document = decided(policy_repo, "route", "architect", "--reflex-samples", str(latencies),
                       "--reflex-success", "90/100", exit_code=0)
    assert document["reflex"] == {"endpoint": "http://127.0.0.1:3009/v1", "model": "qwen2.5-coder-7b-instruct"}
    assert document["reflex_offered"] is True
    assert document["gate"]["type"] == "GateDecision" and document["gate"]["decision"] == "pass"


def test_gate_decision_document(policy_repo: Path, tmp_path: Path) -> None:
    latencies = tmp_path / "latencies.txt"
    latencies.write_text("1500\n2500\n")
    document = decided(policy_repo, "gate", "reflex_promotion", "--samples", str(latencies),
                       "--success", "85/100", exit_code=1)
    assert list(document) == ["type", *REF, "gate", "decision", "ok", "passed", "reason", "criteria"]
    assert document == {
        "type": "GateDecision", **ref_of(policy_repo), "gate": "reflex_promotion",
        "decision": "fail", "ok": False, "passed": False,
        "reason": "p95_latency_ms: p95 2500 ms of 2 samples above 2000 ms",
        "criteria": [
            {"name": "p95_latency_ms", "threshold": 2000, "measured": 2500.0, "comparison": "<=",
             "passed": False, "required": True, "detail": "p95 2500 ms of 2 samples above 2000 ms"},
            {"name": "success_parity_percent", "threshold": 85, "measured": 85.0, "comparison": ">=",
             "passed": True, "required": True, "detail": "85/100 successes = 85% meets 85%"},
        ]}


def test_sunset_gate_with_zero_stability_days_passes_at_zero(policy_repo: Path) -> None:
    commit_policy(policy_repo, "stability_days = 30", "stability_days = 0")
    document = decided(policy_repo, "gate", "local_memory_sunset", "--stable-days", "0",
                       "--retrieval-parity", exit_code=0)
    assert (document["decision"], document["ok"], document["passed"]) == ("pass", True, True)
    stability = document["criteria"][1]
    assert (stability["threshold"], stability["measured"], stability["passed"]) == (0, 0, True)


def test_every_decision_is_a_decision_whose_event_is_its_document(policy_repo: Path) -> None:
    policy = enforce.policy_in_force(GitRepo.discover(policy_repo))
    decisions: list[Decision] = [
        enforce.route(policy, "architect"),
        enforce.budget_tokens(policy, "plan", 1),
        enforce.budget_cost(policy, 1.0),
        enforce.gate_local_memory_sunset(policy, 30, retrieval_parity=True),
    ]
    for decision in decisions:
        assert isinstance(decision, Decision)
        assert decision.policy is policy
        assert decision.as_event() == decision.as_json()
        assert decision.as_json()["ok"] is decision.ok is True


def test_a_decision_recorded_in_a_run_keeps_its_fields(policy_repo: Path) -> None:
    run = Run.start(policy_repo, "decided")
    policy = enforce.policy_in_force(GitRepo.discover(policy_repo), policy=run.policy_id)
    decision = enforce.budget_cost(policy, 30.0)
    event = run.decision(decision.as_event())
    assert event["type"] == "BudgetDecision"
    assert (event["policy_id"], event["policy_hash"]) == (run.policy_id, run.policy_hash)
    assert event.get("decision") == {"kind": "cost", "amount": 30.0, "warn_threshold": 5.0,
                                     "hard_limit": 25.0, "decision": "deny", "ok": False,
                                     "reason": "cost 30 is at or above hard_limit 25"}
    assert run.events()[-1] == {**event}


def test_one_record_for_the_snapshot_in_force(policy_repo: Path) -> None:
    run = Run.start(policy_repo, "same-record")
    policy = enforce.policy_in_force(GitRepo.discover(policy_repo), policy=run.policy_id)
    assert type(run.governing) is type(policy) is enforce.PolicyInForce
    assert run.governing == policy  # the document is not part of the comparison
    assert policy.document is not None and run.governing.document is None
