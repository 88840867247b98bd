"""enforce.py: decisions under the stored snapshot in force, at every boundary."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import EXAMPLE_POLICY, git
from hypothesis import given
from hypothesis import strategies as st

from speckit_git_policy import enforce
from speckit_git_policy.capture import current
from speckit_git_policy.errors import BadInput, CheckFailed
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store import Stores


def commit_policy(repo: Path, *replacements: tuple[str, str]) -> None:
    """Commit the example policy with some of its lines replaced."""
    text = EXAMPLE_POLICY.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    (repo / "model_policy.toml").write_text(text)
    git(repo, "commit", "-q", "-am", "Change policy")


def governing(repo: Path) -> enforce.PolicyInForce:
    return enforce.policy_in_force(GitRepo.discover(repo))


@pytest.fixture
def policy(policy_repo: Path) -> enforce.PolicyInForce:
    return governing(policy_repo)


REFLEX_ON = ("enabled = false", "enabled = true")


# ---- the policy in force -------------------------------------------------------------


def test_head_policy_is_captured_before_the_first_decision(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    stores = Stores(repo)
    assert stores.ids() == []
    decided = enforce.policy_in_force(repo, stores)
    assert stores.ids() == [decided.policy_id]
    state = current(repo, stores)
    assert (decided.policy_id, decided.policy_hash) == (state["policy_id"], state["hash"])
    assert decided.policy_uri == stores.uri(decided.policy_id)
    assert decided.commit == state["commit"]
    assert enforce.policy_in_force(repo, stores).policy_id == decided.policy_id  # reused


def test_explicit_policy_by_prefix_or_uri(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    first = enforce.policy_in_force(repo)
    commit_policy(policy_repo, ("plan = 8000", "plan = 9000"))
    latest = enforce.policy_in_force(repo)
    assert latest.policy_id != first.policy_id
    for text in (first.policy_id[:8], first.policy_uri, first.policy_id):
        chosen = enforce.policy_in_force(repo, policy=text)
        assert chosen.policy_id == first.policy_id
        assert enforce.budget_tokens(chosen, "plan", 8001).decision == "deny"
    assert enforce.budget_tokens(latest, "plan", 8001).decision == "allow"


def test_no_decision_under_a_snapshot_of_an_invalid_policy(policy_repo: Path) -> None:
    commit_policy(policy_repo, ("warn_threshold = 5.0", "warn_threshold = 50.0"))
    with pytest.raises(CheckFailed, match="fails validation") as caught:
        governing(policy_repo)
    assert caught.value.exit_code == 1


# ---- routing ---------------------------------------------------------------------------


def test_route_lists_candidates_in_policy_order(policy: enforce.PolicyInForce) -> None:
    decision = enforce.route(policy, "architect")
    assert decision.candidates == tuple(policy.document["routing"]["cloud"]["architect"])
    assert decision.candidates[0] == "claude-sonnet-4-20250514"
    assert not decision.reflex_offered
    assert "enabled is false" in decision.reflex_reason
    event = decision.as_event()
    assert event["type"] == "RouteDecision"
    assert (event["policy_id"], event["policy_hash"], event["policy_uri"]) == (
        policy.policy_id, policy.policy_hash, policy.policy_uri)


def test_unknown_role_suggests_the_near_one(policy: enforce.PolicyInForce) -> None:
    with pytest.raises(BadInput, match="did you mean 'implementer'"):
        enforce.route(policy, "implementor")


def _reflex_gate(policy: enforce.PolicyInForce, outlier_ms: float) -> enforce.GateDecision:
    """A passing gate: the one outlier in 20 samples lies above the nearest-rank p95."""
    return enforce.gate_reflex_promotion(policy, [100.0] * 19 + [outlier_ms], 90, 100)


def test_reflex_offered_only_when_enabled_and_the_gate_passed(policy_repo: Path) -> None:
    commit_policy(policy_repo, REFLEX_ON)
    policy = governing(policy_repo)

    unevaluated = enforce.route(policy, "implementer")
    assert not unevaluated.reflex_offered and "not evaluated" in unevaluated.reflex_reason

    failed = enforce.route(policy, "implementer", enforce.gate_reflex_promotion(policy, [5000.0], 90, 100))
    assert not failed.reflex_offered
    assert "gate failed" in failed.reflex_reason and "p95_latency_ms" in failed.reflex_reason

    passed = enforce.route(policy, "implementer", _reflex_gate(policy, 2500.0))
    assert passed.reflex_offered
    assert (passed.reflex_endpoint, passed.reflex_model) == (
        "http://127.0.0.1:3009/v1", "qwen2.5-coder-7b-instruct")
    assert passed.as_json()["reflex"] == {"endpoint": passed.reflex_endpoint, "model": passed.reflex_model}
    assert passed.candidates == unevaluated.candidates


def test_reflex_disabled_wins_over_a_passing_gate(policy: enforce.PolicyInForce) -> None:
    decision = enforce.route(policy, "judge", _reflex_gate(policy, 100.0))
    assert not decision.reflex_offered and "enabled is false" in decision.reflex_reason


def test_a_gate_decided_under_another_policy_is_refused(policy_repo: Path) -> None:
    old = governing(policy_repo)
    commit_policy(policy_repo, REFLEX_ON)
    new = governing(policy_repo)
    with pytest.raises(BadInput, match="under"):
        enforce.route(new, "judge", _reflex_gate(old, 100.0))


# ---- budgets ---------------------------------------------------------------------------


@pytest.mark.parametrize(("tokens", "decision"), [(0, "allow"), (7999, "allow"), (8000, "allow"),
                                                  (8001, "deny")])
def test_tokens_at_the_budget_are_allowed(policy: enforce.PolicyInForce, tokens: int, decision: str) -> None:
    result = enforce.budget_tokens(policy, "plan", tokens)
    assert result.budget == policy.document["budgets"]["tokens"]["plan"] == 8000
    assert result.decision == decision
    assert result.ok is (decision == "allow")


def test_stage_without_budget_is_reported_not_allowed(policy: enforce.PolicyInForce) -> None:
    result = enforce.budget_tokens(policy, "implemnt", 1)
    assert (result.decision, result.budget, result.ok) == ("no_budget", None, False)
    assert "did you mean 'implement'" in result.reason
    assert result.as_json()["type"] == "BudgetDecision"


@pytest.mark.parametrize("tokens", [-1, 1.5, True])
def test_bad_token_counts(policy: enforce.PolicyInForce, tokens: object) -> None:
    with pytest.raises(BadInput):
        enforce.budget_tokens(policy, "plan", tokens)  # type: ignore[arg-type]


@pytest.mark.parametrize(("amount", "decision"), [
    (0.0, "ok"), (4.99, "ok"), (5.0, "warn"), (24.99, "warn"), (25.0, "deny"), (1000.0, "deny")])
def test_cost_boundaries(policy: enforce.PolicyInForce, amount: float, decision: str) -> None:
    result = enforce.budget_cost(policy, amount)
    assert (result.warn_threshold, result.hard_limit) == (5.0, 25.0)
    assert result.decision == decision
    assert result.ok is (decision != "deny")


def test_cost_given_as_text_meets_the_threshold_exactly(policy: enforce.PolicyInForce) -> None:
    assert enforce.budget_cost(policy, enforce.parse_amount("5")).decision == "warn"
    assert enforce.budget_cost(policy, enforce.parse_amount("25.00")).decision == "deny"


def test_warn_equal_to_hard_limit_denies_at_it(policy_repo: Path) -> None:
    commit_policy(policy_repo, ("warn_threshold = 5.0", "warn_threshold = 25.0"))
    policy = governing(policy_repo)
    assert enforce.budget_cost(policy, 24.5).decision == "ok"
    assert enforce.budget_cost(policy, 25.0).decision == "deny"


@pytest.mark.parametrize("amount", [-0.01, math.nan, math.inf])
def test_bad_costs(policy: enforce.PolicyInForce, amount: float) -> None:
    with pytest.raises(BadInput):
        enforce.budget_cost(policy, amount)


@pytest.mark.parametrize("text", ["-1", "nan", "inf", "five", "1e999", ""])
def test_bad_cost_text(text: str) -> None:
    with pytest.raises(BadInput, match="cost"):
        enforce.parse_amount(text)


# ---- p95 and samples ---------------------------------------------------------------------


@pytest.mark.parametrize(("count", "expected"), [(1, 1), (2, 2), (19, 19), (20, 19), (21, 20),
                                                 (100, 95), (101, 96)])
def test_p95_is_nearest_rank(count: int, expected: int) -> None:
    # samples 1..count shuffled: nearest rank ceil(0.95 n) is the value itself
    samples = [float(v) for v in reversed(range(1, count + 1))]
    assert enforce.p95(samples) == expected == math.ceil(Fraction(95, 100) * count)


@given(st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
                min_size=1, max_size=300))
def test_p95_is_a_sample_with_95_percent_at_or_below(samples: list[float]) -> None:
    value = enforce.p95(samples)
    assert value in samples
    n = len(samples)
    assert 100 * sum(s <= value for s in samples) >= 95 * n
    assert 100 * sum(s < value for s in samples) < 95 * n


def test_samples_by_line_with_comments_and_blank_lines() -> None:
    text = "# latencies in ms\n120\n\n  130.5  # slow one\n1e3\n"
    assert enforce.parse_samples(text, "s.txt") == (120.0, 130.5, 1000.0)


def test_samples_as_json_array() -> None:
    assert enforce.parse_samples('[1, 2.5,\n 3e2]', "s.json") == (1.0, 2.5, 300.0)


@pytest.mark.parametrize(("text", "message"), [
    ("1\nnan\n", r"s\.txt:2: 'nan' is not a finite number"),
    ("1\n2\n-inf\n", r"s\.txt:3: '-inf' is not a finite number"),
    ("Infinity\n", r"s\.txt:1: 'Infinity' is not a finite number"),
    ("1\n-3\n", r"s\.txt:2: '-3' is negative"),
    ("1\nfast\n", r"s\.txt:2: 'fast' is not a number"),
    ("1e999\n", r"s\.txt:1: .* not a finite number"),
    ("1,2\n", r"s\.txt:1: '1,2' is not a number"),
    ("[1,\n NaN]", r"s\.txt:2: 'NaN' is not a finite number"),
    ('[1,\n\n "2"]', r"s\.txt:3: \"2\" is not a number"),
    ("[1, true]", r"s\.txt:1: true is not a number"),
    ("[1, -2]", r"s\.txt:1: '-2' is negative"),
    ("[1, 2", r"s\.txt:1: expected ',' or ']'"),
    ("[1] 2", r"s\.txt:1: unexpected text"),
    ("", r"s\.txt: no samples"),
    ("# nothing yet\n\n", r"s\.txt: no samples"),
    ("[]", r"s\.txt: no samples"),
])
def test_bad_samples_name_the_file_and_line(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        enforce.parse_samples(text, "s.txt")


def test_load_samples_from_files(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("10\n20\n")
    assert enforce.load_samples(good) == (10.0, 20.0)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(BadInput, match="empty.txt: no samples"):
        enforce.load_samples(empty)
    with pytest.raises(BadInput, match="missing.txt: cannot read"):
        enforce.load_samples(tmp_path / "missing.txt")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe1\n")
    with pytest.raises(BadInput, match="not UTF-8"):
        enforce.load_samples(binary)


# ---- gates -------------------------------------------------------------------------------


def test_reflex_gate_p95_exactly_at_the_limit_passes(policy: enforce.PolicyInForce) -> None:
    limit = policy.document["gates"]["reflex_promotion"]["p95_latency_ms"]
    # 20 samples: the p95 is the 19th smallest
    at_limit = enforce.gate_reflex_promotion(policy, [10.0] * 18 + [float(limit)] * 2, 100, 100)
    latency = at_limit.criteria[0]
    assert (latency.name, latency.threshold, latency.measured, latency.passed) == (
        "p95_latency_ms", limit, float(limit), True)
    assert at_limit.passed and at_limit.decision == "pass"

    over = enforce.gate_reflex_promotion(policy, [10.0] * 18 + [limit + 0.5] * 2, 100, 100)
    assert not over.criteria[0].passed and not over.passed
    # the 20th of 21 samples is the p95: one slow outlier above it does not count
    outlier = enforce.gate_reflex_promotion(policy, [10.0] * 19 + [float(limit), 1e6], 100, 100)
    assert outlier.criteria[0].measured == limit and outlier.passed


@pytest.mark.parametrize(("local", "cloud", "passed"), [
    (85, 100, True), (84, 100, False), (17, 20, True), (170, 200, True), (169, 200, False),
    (120, 100, True), (0, 100, False)])
def test_reflex_gate_parity_exactly_at_the_percent_passes(
        policy: enforce.PolicyInForce, local: int, cloud: int, passed: bool) -> None:
    decision = enforce.gate_reflex_promotion(policy, [1.0], local, cloud)
    parity = decision.criteria[1]
    assert parity.name == "success_parity_percent" and parity.threshold == 85
    assert parity.measured == local * 100 / cloud
    assert parity.passed is passed is decision.passed
    assert decision.as_event()["criteria"][1]["passed"] is passed


def test_parity_compares_the_decimal_written_in_the_policy(policy_repo: Path) -> None:
    # 0.851 * 100 is 85.10000000000001 in floats: exact arithmetic keeps 851/1000 at 85.1
    commit_policy(policy_repo, ("success_parity_percent = 85", "success_parity_percent = 85.1"))
    policy = governing(policy_repo)
    assert enforce.gate_reflex_promotion(policy, [1.0], 851, 1000).passed
    assert not enforce.gate_reflex_promotion(policy, [1.0], 850, 1000).passed


@pytest.mark.parametrize(("local", "cloud"), [(1, 0), (-1, 10), (1, -1)])
def test_reflex_gate_bad_counts(policy: enforce.PolicyInForce, local: int, cloud: int) -> None:
    with pytest.raises(BadInput):
        enforce.gate_reflex_promotion(policy, [1.0], local, cloud)


@pytest.mark.parametrize("samples", [[], [1.0, math.nan], [-1.0], [math.inf]])
def test_reflex_gate_bad_samples(policy: enforce.PolicyInForce, samples: list[float]) -> None:
    with pytest.raises(BadInput, match="latency samples"):
        enforce.gate_reflex_promotion(policy, samples, 1, 1)


@pytest.mark.parametrize(("days", "passed"), [(29, False), (30, True), (31, True)])
def test_sunset_stable_days_at_the_threshold_pass(
        policy: enforce.PolicyInForce, days: int, passed: bool) -> None:
    decision = enforce.gate_local_memory_sunset(policy, days, retrieval_parity=True)
    stability = decision.criteria[1]
    assert (stability.threshold, stability.measured, stability.passed) == (30, days, passed)
    assert decision.passed is passed


def test_sunset_parity_from_samples(policy: enforce.PolicyInForce) -> None:
    equal = enforce.gate_local_memory_sunset(policy, 30, local_samples=[5.0, 9.0], reference_samples=[9.0, 1.0])
    parity = equal.criteria[0]
    assert (parity.measured, parity.threshold, parity.passed, parity.required) == (9.0, 9.0, True, True)
    slower = enforce.gate_local_memory_sunset(policy, 30, local_samples=[9.5], reference_samples=[9.0])
    assert not slower.passed and "retrieval_p95_parity" in slower.reason


def test_sunset_parity_flag_false_fails_when_required(policy: enforce.PolicyInForce) -> None:
    decision = enforce.gate_local_memory_sunset(policy, 30, retrieval_parity=False)
    assert not decision.passed and not decision.criteria[0].passed


def test_sunset_parity_not_required_when_the_policy_says_so(policy_repo: Path) -> None:
    commit_policy(policy_repo, ("retrieval_p95_parity = true", "retrieval_p95_parity = false"))
    policy = governing(policy_repo)
    without = enforce.gate_local_memory_sunset(policy, 30)
    assert without.passed and not without.criteria[0].required
    measured = enforce.gate_local_memory_sunset(policy, 30, local_samples=[10.0], reference_samples=[1.0])
    assert measured.passed and measured.criteria[0].measured == 10.0
    assert "not required" in measured.criteria[0].detail
    assert not enforce.gate_local_memory_sunset(policy, 29).passed


def test_sunset_bad_input(policy: enforce.PolicyInForce) -> None:
    with pytest.raises(BadInput, match="required"):
        enforce.gate_local_memory_sunset(policy, 30)
    with pytest.raises(BadInput, match="both"):
        enforce.gate_local_memory_sunset(policy, 30, local_samples=[1.0])
    with pytest.raises(BadInput, match="not both"):
        enforce.gate_local_memory_sunset(policy, 30, retrieval_parity=True,
                                         local_samples=[1.0], reference_samples=[1.0])
    with pytest.raises(BadInput, match="stable days"):
        enforce.gate_local_memory_sunset(policy, -1, retrieval_parity=True)


def test_gate_names_and_success_counts() -> None:
    assert enforce.check_gate_name("reflex_promotion") == "reflex_promotion"
    with pytest.raises(BadInput, match="did you mean 'local_memory_sunset'"):
        enforce.check_gate_name("local_memory_sunsets")
    assert enforce.parse_success("85/100") == (85, 100)
    for text in ("85", "85/", "-1/100", "a/b", "1.5/2", "²/3"):
        with pytest.raises(BadInput, match="LOCAL/CLOUD"):
            enforce.parse_success(text)


def test_sunset_with_zero_stability_days_passes_at_zero_stable_days(policy_repo: Path) -> None:
    commit_policy(policy_repo, ("stability_days = 30", "stability_days = 0"))
    policy = governing(policy_repo)
    decision = enforce.gate_local_memory_sunset(policy, 0, retrieval_parity=True)
    stability = decision.criteria[1]
    assert (stability.threshold, stability.measured, stability.passed) == (0, 0, True)
    assert decision.passed and decision.ok and decision.decision == "pass"
