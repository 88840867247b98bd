"""Enforcement (docs/DESIGN.md §7): routing, budgets and gates, decided under a stored snapshot.

Every decision is a frozen dataclass that names the snapshot it was made under
(``policy_id``, ``policy_hash``, ``policy_uri``) and turns into a JSON document
(``as_json``) and a run event (``as_event``). Definitions, fixed here so that a
boundary value always gets the same answer:

* **p95** is the nearest-rank percentile: sort the n samples, take the one at
  rank ceil(0.95 * n) (1-based). It is always one of the measured samples, so a
  p95 "exactly at the limit" is a sample equal to the limit — and it passes
  (latency ≤ limit), as a token count at its budget is allowed.
* **success parity** = local successes / cloud successes × 100, compared exactly
  (rational arithmetic, no float rounding): it passes when ≥ ``success_parity_percent``.
  The cloud count is the reference and must be positive.
* **tokens**: ``allow`` when tokens ≤ the stage's budget, ``deny`` above it, and
  ``no_budget`` (not allowed, exit 1) for a stage ``[budgets.tokens]`` does not name.
* **cost**: ``deny`` at or above ``hard_limit``, else ``warn`` at or above
  ``warn_threshold``, else ``ok``; ``ok`` and ``warn`` are allowed.
* **local_memory_sunset**: retrieval parity means local p95 ≤ reference p95
  (from two sample sets) or a stated boolean; with ``retrieval_p95_parity = false``
  in the policy that criterion is listed as not required and does not block.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from speckit_git_policy.enforce.decisions import (
    CostBudgetDecision,
    Criterion,
    GateDecision,
    RouteDecision,
    TokenBudgetDecision,
)
from speckit_git_policy.enforce.samples import _checked, _did_you_mean, _exact, p95
from speckit_git_policy.errors import BadInput
from speckit_git_policy.runs.records import PolicyInForce

GATES = ("reflex_promotion", "local_memory_sunset")


def route(
    policy: PolicyInForce, role: str, reflex_gate: GateDecision | None = None
) -> RouteDecision:
    """Ordered cloud candidates for ``role``, and the reflex route when it is enabled and
    ``reflex_gate`` (a reflex_promotion decision under the same policy) passed."""
    cloud = policy.block("routing", "cloud")
    if role not in cloud:
        raise BadInput(
            f"unknown role {role!r}{_did_you_mean(role, sorted(cloud))}; "
            f"routing.cloud names: {', '.join(sorted(cloud))}"
        )
    reflex = policy.block("routing").get("reflex") or {}
    endpoint = model = None
    if reflex_gate is not None:
        if reflex_gate.gate != "reflex_promotion":
            raise BadInput(
                f"the reflex route needs a reflex_promotion gate decision, not {reflex_gate.gate}"
            )
        if reflex_gate.policy.policy_hash != policy.policy_hash:
            raise BadInput(
                f"the gate decision was made under {reflex_gate.policy.policy_id}, "
                f"not under {policy.policy_id}; evaluate the gate under this policy"
            )
    if not reflex.get("enabled"):
        why = "routing.reflex.enabled is false"
    elif reflex_gate is None:
        why = "reflex_promotion gate not evaluated: no latency and success evidence supplied"
    elif not reflex_gate.passed:
        why = f"reflex_promotion gate failed: {reflex_gate.reason}"
    else:
        endpoint, model = reflex.get("endpoint"), reflex.get("model")
        why = "reflex enabled and reflex_promotion gate passed"
    return RouteDecision(
        policy=policy,
        role=role,
        candidates=tuple(cloud[role]),
        reflex_endpoint=endpoint,
        reflex_model=model,
        reflex_reason=why,
        gate=reflex_gate,
    )


def allowed_models(policy: PolicyInForce, role: str) -> tuple[str, ...]:
    """The models ``role`` may call: its ``routing.cloud`` candidates, and the reflex model
    while ``routing.reflex.enabled`` is true (the promotion gate decides whether ``route``
    offers it, not whether a call to it is allowed)."""
    candidates = route(policy, role).candidates
    reflex = policy.block("routing").get("reflex") or {}
    model = reflex.get("model") if reflex.get("enabled") else None
    return (
        (*candidates, model) if isinstance(model, str) and model not in candidates else candidates
    )


def route_model(policy: PolicyInForce, role: str, model: str) -> RouteDecision:
    """May ``role`` call ``model``? A route decision for that one model: ``allow`` when it is
    one of ``allowed_models``, ``deny`` otherwise (the call-time guard refuses the call)."""
    decision = route(policy, role)
    allowed = allowed_models(policy, role)
    if model in allowed:
        how = "the reflex model" if model not in decision.candidates else "a candidate"
        reason = f"{model!r} is {how} of role {role!r}"
        permitted = True
    else:
        reflex = policy.block("routing").get("reflex") or {}
        also = f", nor the reflex model {reflex.get('model')!r}" if reflex.get("enabled") else ""
        reason = (
            f"{model!r} is not allowed for role {role!r}: routing.cloud.{role} names "
            f"{', '.join(decision.candidates)}{also}"
        )
        permitted = False
    return RouteDecision(
        policy=policy,
        role=role,
        candidates=decision.candidates,
        reflex_endpoint=decision.reflex_endpoint,
        reflex_model=decision.reflex_model,
        reflex_reason=decision.reflex_reason,
        requested=model,
        permitted=permitted,
        reason=reason,
    )


def budget_tokens(policy: PolicyInForce, stage: str, tokens: int) -> TokenBudgetDecision:
    """A stage's token use against ``budgets.tokens``: at or below the budget is allowed."""
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise BadInput(f"token count must be a non-negative integer, not {tokens!r}")
    budgets = policy.block("budgets", "tokens")
    budget = budgets.get(stage)
    if budget is None:
        known = ", ".join(sorted(budgets)) or "none"
        return TokenBudgetDecision(
            policy,
            stage,
            tokens,
            None,
            "no_budget",
            f"stage {stage!r} has no token budget{_did_you_mean(stage, sorted(budgets))}; "
            f"budgets.tokens names: {known}",
        )
    if tokens <= budget:
        return TokenBudgetDecision(
            policy,
            stage,
            tokens,
            budget,
            "allow",
            f"{tokens} tokens is within the {stage} budget of {budget}",
        )
    return TokenBudgetDecision(
        policy,
        stage,
        tokens,
        budget,
        "deny",
        f"{tokens} tokens exceeds the {stage} budget of {budget} by {tokens - budget}",
    )


def budget_cost(policy: PolicyInForce, amount: float) -> CostBudgetDecision:
    """A run's accumulated cost: deny at or above hard_limit, warn at or above warn_threshold."""
    if (
        isinstance(amount, bool)
        or not isinstance(amount, (int, float))
        or not math.isfinite(amount)
        or amount < 0
    ):
        raise BadInput(f"cost must be a finite, non-negative number, not {amount!r}")
    cost = policy.block("budgets", "cost")
    warn, hard = float(cost["warn_threshold"]), float(cost["hard_limit"])
    value = float(amount)
    if value >= hard:
        decision, reason = "deny", f"cost {value:g} is at or above hard_limit {hard:g}"
    elif value >= warn:
        decision, reason = "warn", f"cost {value:g} is at or above warn_threshold {warn:g}"
    else:
        decision, reason = "ok", f"cost {value:g} is below warn_threshold {warn:g}"
    return CostBudgetDecision(policy, value, warn, hard, decision, reason)


def gate_reflex_promotion(
    policy: PolicyInForce,
    latencies_ms: Sequence[float],
    local_successes: int,
    cloud_successes: int,
) -> GateDecision:
    """p95 of the local model's latencies ≤ p95_latency_ms, and
    local_successes / cloud_successes × 100 ≥ success_parity_percent."""
    for name, count in (("local successes", local_successes), ("cloud successes", cloud_successes)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise BadInput(f"{name} must be a non-negative integer, not {count!r}")
    if cloud_successes == 0:
        raise BadInput("cloud successes must be positive: parity is local / cloud successes × 100")
    gate = policy.block("gates", "reflex_promotion")
    limit, percent = gate["p95_latency_ms"], gate["success_parity_percent"]
    measured_p95 = p95(_checked(latencies_ms, "latency samples"))
    parity = Fraction(local_successes * 100, cloud_successes)
    latency_ok = measured_p95 <= limit
    parity_ok = parity >= _exact(percent)
    return GateDecision(
        policy,
        "reflex_promotion",
        (
            Criterion(
                "p95_latency_ms",
                limit,
                measured_p95,
                "<=",
                latency_ok,
                detail=f"p95 {measured_p95:g} ms of {len(latencies_ms)} samples "
                f"{'within' if latency_ok else 'above'} {limit:g} ms",
            ),
            Criterion(
                "success_parity_percent",
                percent,
                float(parity),
                ">=",
                parity_ok,
                detail=f"{local_successes}/{cloud_successes} successes = {float(parity):g}% "
                f"{'meets' if parity_ok else 'below'} {percent:g}%",
            ),
        ),
    )


def gate_local_memory_sunset(
    policy: PolicyInForce,
    stable_days: int,
    *,
    retrieval_parity: bool | None = None,
    local_samples: Sequence[float] | None = None,
    reference_samples: Sequence[float] | None = None,
) -> GateDecision:
    """Retrieval p95 parity (local p95 ≤ reference p95, or a stated boolean) and
    stable_days ≥ stability_days. Parity is not required when the policy says
    ``retrieval_p95_parity = false``."""
    if isinstance(stable_days, bool) or not isinstance(stable_days, int) or stable_days < 0:
        raise BadInput(f"stable days must be a non-negative integer, not {stable_days!r}")
    gate = policy.block("gates", "local_memory_sunset")
    required = bool(gate["retrieval_p95_parity"])
    by_samples = local_samples is not None or reference_samples is not None
    if by_samples and (local_samples is None or reference_samples is None):
        raise BadInput("retrieval parity from samples needs both local and reference samples")
    if by_samples and retrieval_parity is not None:
        raise BadInput("give retrieval parity either as samples or as a flag, not both")
    measured: Any
    if by_samples:
        assert local_samples is not None and reference_samples is not None
        local_p95 = p95(_checked(local_samples, "local samples"))
        reference_p95 = p95(_checked(reference_samples, "reference samples"))
        parity_ok = local_p95 <= reference_p95
        measured, threshold, comparison = local_p95, reference_p95, "<="
        detail = (
            f"local p95 {local_p95:g} {'<=' if parity_ok else '>'} reference p95 {reference_p95:g}"
        )
    elif retrieval_parity is not None:
        parity_ok = bool(retrieval_parity)
        measured, threshold, comparison = parity_ok, True, "=="
        detail = "parity stated" if parity_ok else "parity stated as not reached"
    elif required:
        raise BadInput(
            "gates.local_memory_sunset.retrieval_p95_parity is required: give local and "
            "reference retrieval samples, or state parity"
        )
    else:
        parity_ok, measured, threshold, comparison, detail = True, None, None, "==", ""
    if not required:
        parity_ok = True
        detail = "not required (gates.local_memory_sunset.retrieval_p95_parity = false)" + (
            f"; {detail}" if detail else ""
        )
    days_needed = int(gate["stability_days"])
    days_ok = stable_days >= days_needed
    return GateDecision(
        policy,
        "local_memory_sunset",
        (
            Criterion(
                "retrieval_p95_parity",
                threshold,
                measured,
                comparison,
                parity_ok,
                required=required,
                detail=detail,
            ),
            Criterion(
                "stability_days",
                days_needed,
                stable_days,
                ">=",
                days_ok,
                detail=f"{stable_days} stable days {'meets' if days_ok else 'below'} {days_needed}",
            ),
        ),
    )


def check_gate_name(name: str) -> str:
    if name not in GATES:
        raise BadInput(
            f"unknown gate {name!r}{_did_you_mean(name, GATES)}; gates: {', '.join(GATES)}"
        )
    return name
