"""The decisions of routing, budgets and gates: each names the snapshot it was made under
and turns into a JSON document (``as_json``) and a run event (``as_event``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from speckit_git_policy.enforce.in_force import PolicyInForce


@dataclass(frozen=True)
class Criterion:
    """One test a gate applies: ``measured <comparison> threshold``."""

    name: str
    threshold: Any
    measured: Any
    comparison: str
    passed: bool
    required: bool = True
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "threshold": self.threshold, "measured": self.measured,
                "comparison": self.comparison, "passed": self.passed,
                "required": self.required, "detail": self.detail}


@dataclass(frozen=True)
class GateDecision:
    policy: PolicyInForce
    gate: str
    criteria: tuple[Criterion, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.criteria if c.required)

    @property
    def ok(self) -> bool:
        return self.passed

    @property
    def decision(self) -> str:
        return "pass" if self.passed else "fail"

    @property
    def reason(self) -> str:
        failed = [c for c in self.criteria if c.required and not c.passed]
        if not failed:
            return "every required criterion passed"
        return "; ".join(f"{c.name}: {c.detail}" for c in failed)

    def as_json(self) -> dict[str, Any]:
        return {"type": "GateDecision", **self.policy.ref(), "gate": self.gate,
                "decision": self.decision, "ok": self.ok, "passed": self.passed,
                "reason": self.reason, "criteria": [c.as_json() for c in self.criteria]}

    def as_event(self) -> dict[str, Any]:
        return self.as_json()


@dataclass(frozen=True)
class RouteDecision:
    policy: PolicyInForce
    role: str
    candidates: tuple[str, ...]
    reflex_endpoint: str | None
    reflex_model: str | None
    reflex_reason: str
    gate: GateDecision | None = None

    @property
    def reflex_offered(self) -> bool:
        return self.reflex_model is not None

    @property
    def ok(self) -> bool:
        return True  # a known role always has a route; an unknown one is BadInput

    @property
    def decision(self) -> str:
        return "allow"

    def as_json(self) -> dict[str, Any]:
        reflex = ({"endpoint": self.reflex_endpoint, "model": self.reflex_model}
                  if self.reflex_offered else None)
        return {"type": "RouteDecision", **self.policy.ref(), "role": self.role,
                "decision": self.decision, "ok": self.ok, "candidates": list(self.candidates),
                "reflex": reflex, "reflex_offered": self.reflex_offered,
                "reflex_reason": self.reflex_reason,
                "gate": self.gate.as_json() if self.gate is not None else None}

    def as_event(self) -> dict[str, Any]:
        return self.as_json()


@dataclass(frozen=True)
class TokenBudgetDecision:
    policy: PolicyInForce
    stage: str
    tokens: int
    budget: int | None
    decision: str  # allow | deny | no_budget
    reason: str

    @property
    def ok(self) -> bool:
        return self.decision == "allow"

    def as_json(self) -> dict[str, Any]:
        return {"type": "BudgetDecision", "kind": "tokens", **self.policy.ref(),
                "stage": self.stage, "tokens": self.tokens, "budget": self.budget,
                "decision": self.decision, "ok": self.ok, "reason": self.reason}

    def as_event(self) -> dict[str, Any]:
        return self.as_json()


@dataclass(frozen=True)
class CostBudgetDecision:
    policy: PolicyInForce
    amount: float
    warn_threshold: float
    hard_limit: float
    decision: str  # ok | warn | deny
    reason: str

    @property
    def ok(self) -> bool:
        return self.decision != "deny"

    def as_json(self) -> dict[str, Any]:
        return {"type": "BudgetDecision", "kind": "cost", **self.policy.ref(),
                "amount": self.amount, "warn_threshold": self.warn_threshold,
                "hard_limit": self.hard_limit, "decision": self.decision, "ok": self.ok,
                "reason": self.reason}

    def as_event(self) -> dict[str, Any]:
        return self.as_json()


Decision = RouteDecision | TokenBudgetDecision | CostBudgetDecision | GateDecision
