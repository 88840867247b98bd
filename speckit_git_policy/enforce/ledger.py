"""The usage ledger: what a run's ``UsageRecorded`` events add up to, priced by ``[pricing]``,
and held against the budgets (docs/DESIGN.md §6, §7).

A stage's tokens are the input + output tokens of the run's ``UsageRecorded`` events of
that stage; the run's cost is the sum of their known costs. :class:`Ledger` folds events
one at a time, so that the call-time guard keeps it current by folding what it appends
and what ``Run.refresh`` brings in, never re-reading the whole log.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypedDict

from speckit_git_policy.runs.events import USAGE_RECORDED, known_stages

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from speckit_git_policy.git.repo import GitRepo
    from speckit_git_policy.runs.records import Event, PolicyInForce

PER_MILLION = 1_000_000


class Ledger:
    """Tokens used per stage and the run's cost, from its ``UsageRecorded`` events."""

    def __init__(self) -> None:
        self.tokens: dict[str, int] = {}
        self.input_tokens: dict[str, int] = {}
        self.output_tokens: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        self.cost = 0.0
        self.unpriced_calls = 0
        self.priced_calls = 0
        self.incomplete_calls = 0
        # Calls whose response reported no token counts: tallied as zero tokens, so the
        # totals are lower bounds; readers say how many calls that is.
        self.unknown_usage_calls = 0
        # (model requested, model served) -> [calls, input tokens, output tokens, cost of
        # the priced calls or None], in order of first use.
        self.models: dict[tuple[str | None, str | None], list[Any]] = {}

    @classmethod
    def of(cls, events: Iterable[Event]) -> Ledger:
        ledger = cls()
        for event in events:
            ledger.add(event)
        return ledger

    def add(self, event: Mapping[str, Any], stage: str | None = None) -> None:
        """Fold one event; ``stage``: the stage the run was in, for an event naming none."""
        if event["type"] != USAGE_RECORDED:
            return
        named = event.get("stage")
        stage = named if isinstance(named, str) else stage if stage is not None else str(named)
        raw = event.get("input_tokens"), event.get("output_tokens")
        given = _count(raw[0]), _count(raw[1])
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in raw):
            self.unknown_usage_calls += 1
        self.input_tokens[stage] = self.input_tokens.get(stage, 0) + given[0]
        self.output_tokens[stage] = self.output_tokens.get(stage, 0) + given[1]
        self.tokens[stage] = self.tokens.get(stage, 0) + given[0] + given[1]
        self.calls[stage] = self.calls.get(stage, 0) + 1
        cost = event.get("cost")
        amount: float | None = None
        if isinstance(cost, (int, float)) and not isinstance(cost, bool) and math.isfinite(cost):
            amount = max(float(cost), 0.0)
            self.cost += amount
            self.priced_calls += 1
        else:
            self.unpriced_calls += 1
        if event.get("complete") is False:
            self.incomplete_calls += 1
        requested, served = event.get("model_requested"), event.get("model_served")
        model = (
            requested if isinstance(requested, str) else None,
            served if isinstance(served, str) else None,
        )
        tally = self.models.setdefault(model, [0, 0, 0, None])
        tally[0] += 1
        tally[1] += given[0]
        tally[2] += given[1]
        if amount is not None:
            tally[3] = (tally[3] or 0.0) + amount

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def used(self, stage: str) -> int:
        return self.tokens.get(stage, 0)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


# ---- pricing ---------------------------------------------------------------------------
def price_call(
    document: dict[str, Any],
    model_served: str | None,
    model_requested: str,
    input_tokens: int | None,
    output_tokens: int | None,
) -> tuple[float | None, str]:
    """(cost, how it was found or why it is unknown), from the snapshot's ``[pricing]``:
    the served model's entry, else the requested model's (a provider serves a dated
    version of the id the policy names)."""
    pricing = document.get("pricing") or {}
    if not pricing:
        return None, "cost unknown: the policy has no [pricing] table"
    names = [name for name in (model_served, model_requested) if name]
    entry_name = next((name for name in names if name in pricing), None)
    if entry_name is None:
        return None, f"cost unknown: [pricing] has no entry for {' or '.join(map(repr, names))}"
    if input_tokens is None or output_tokens is None:
        return None, "cost unknown: the response carried no usage"
    entry = pricing[entry_name]
    cost = (
        input_tokens * float(entry["input_per_mtok"])
        + output_tokens * float(entry["output_per_mtok"])
    ) / PER_MILLION
    return cost, f"priced by pricing.{entry_name}"


# ---- budget status ---------------------------------------------------------------------
class StageStatus(TypedDict):
    stage: str
    used: int
    budget: int | None
    input_tokens: int
    output_tokens: int
    calls: int


class BudgetStatus(TypedDict):
    """``budget status --json``."""

    run_id: str
    policy_id: str
    policy_hash: str
    stages: list[StageStatus]
    cost: float
    warn_threshold: float
    hard_limit: float
    cost_decision: str
    unpriced_calls: int
    incomplete_calls: int


def budget_status_of(run_id: str, policy: PolicyInForce, events: list[Event]) -> BudgetStatus:
    """The ledger of ``events`` against the budgets of ``policy`` (its document loaded)."""
    from speckit_git_policy.enforce.rules import budget_cost

    ledger = Ledger.of(events)
    document = policy.document or {}
    budgets = policy.block("budgets", "tokens")
    order = [*known_stages(document), *sorted(s for s in ledger.tokens if s not in budgets)]
    stages: list[StageStatus] = []
    for stage in dict.fromkeys(order):
        if stage not in budgets and stage not in ledger.tokens:
            continue
        stages.append(
            {
                "stage": stage,
                "used": ledger.used(stage),
                "budget": budgets.get(stage),
                "input_tokens": ledger.input_tokens.get(stage, 0),
                "output_tokens": ledger.output_tokens.get(stage, 0),
                "calls": ledger.calls.get(stage, 0),
            }
        )
    decision = budget_cost(policy, ledger.cost)
    return {
        "run_id": run_id,
        "policy_id": policy.policy_id,
        "policy_hash": policy.policy_hash,
        "stages": stages,
        "cost": ledger.cost,
        "warn_threshold": decision.warn_threshold,
        "hard_limit": decision.hard_limit,
        "cost_decision": decision.decision,
        "unpriced_calls": ledger.unpriced_calls,
        "incomplete_calls": ledger.incomplete_calls,
    }


def budget_status(repo: GitRepo, run_id: str) -> BudgetStatus:
    """A run's ledger against the budgets of the snapshot in force at its last event."""
    from speckit_git_policy.runs.records import PolicyInForce
    from speckit_git_policy.runs.run import Run

    run = Run.open(repo, run_id)
    governing = run.governing
    policy = PolicyInForce(
        governing.policy_id,
        governing.policy_hash,
        governing.policy_uri,
        governing.commit,
        document=run.policy(),
    )
    return budget_status_of(run_id, policy, run.events())
