"""The decisions of routing, budgets and gates: each names the snapshot it was made under
and turns into a JSON document (``as_json``) and a run event (``as_event``).

Every decision is a :class:`Decision`: its document is the type name (and kind),
the snapshot's reference, what was decided about, the verdict (``decision`` and
``ok``) and why, in that order, built in one place (``Decision.as_json``) from
what each class says about itself. The documents are public (``--json``, run logs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from speckit_git_policy.runs.records import PolicyInForce


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
        return {
            "name": self.name,
            "threshold": self.threshold,
            "measured": self.measured,
            "comparison": self.comparison,
            "passed": self.passed,
            "required": self.required,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Decision:
    """A decision made under ``policy``; ``ok`` when its verdict lets the work go on."""

    policy: PolicyInForce

    TYPE: ClassVar[str]  # the document's "type"
    KIND: ClassVar[str | None] = None  # its "kind", for the two budget decisions
    ALLOWED: ClassVar[frozenset[str]]  # the verdicts that are ok

    if TYPE_CHECKING:
        # The verdict: a field of some decisions, worked out by others.
        @property
        def decision(self) -> str: ...

    @property
    def ok(self) -> bool:
        return self.decision in self.ALLOWED

    def subject(self) -> dict[str, Any]:
        """What was decided about (before the verdict in the document)."""
        raise NotImplementedError

    def grounds(self) -> dict[str, Any]:
        """Why (after the verdict in the document)."""
        raise NotImplementedError

    def as_json(self) -> dict[str, Any]:
        kind = {"kind": self.KIND} if self.KIND is not None else {}
        return {
            "type": self.TYPE,
            **kind,
            **self.policy.ref(),
            **self.subject(),
            "decision": self.decision,
            "ok": self.ok,
            **self.grounds(),
        }

    def as_event(self) -> dict[str, Any]:
        """What ``Run.decision`` records."""
        return self.as_json()


@dataclass(frozen=True)
class GateDecision(Decision):
    TYPE: ClassVar[str] = "GateDecision"
    ALLOWED: ClassVar[frozenset[str]] = frozenset({"pass"})

    gate: str
    criteria: tuple[Criterion, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.criteria if c.required)

    @property
    def decision(self) -> str:
        return "pass" if self.passed else "fail"

    @property
    def reason(self) -> str:
        failed = [c for c in self.criteria if c.required and not c.passed]
        if not failed:
            return "every required criterion passed"
        return "; ".join(f"{c.name}: {c.detail}" for c in failed)

    def subject(self) -> dict[str, Any]:
        return {"gate": self.gate}

    def grounds(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reason": self.reason,
            "criteria": [c.as_json() for c in self.criteria],
        }


@dataclass(frozen=True)
class RouteDecision(Decision):
    TYPE: ClassVar[str] = "RouteDecision"
    # A known role always has a route; an unknown one is BadInput. A route asked for one
    # model (the call-time guard: ``requested``) is denied when the role may not use it.
    ALLOWED: ClassVar[frozenset[str]] = frozenset({"allow"})

    role: str
    candidates: tuple[str, ...]
    reflex_endpoint: str | None
    reflex_model: str | None
    reflex_reason: str
    gate: GateDecision | None = None
    requested: str | None = None
    permitted: bool = True
    reason: str = ""

    @property
    def reflex_offered(self) -> bool:
        return self.reflex_model is not None

    @property
    def decision(self) -> str:
        return "allow" if self.permitted else "deny"

    @property
    def rule(self) -> str:
        return f"routing.cloud.{self.role}"

    def subject(self) -> dict[str, Any]:
        if self.requested is not None:
            return {"role": self.role, "model": self.requested}
        return {"role": self.role}

    def grounds(self) -> dict[str, Any]:
        reflex = (
            {"endpoint": self.reflex_endpoint, "model": self.reflex_model}
            if self.reflex_offered
            else None
        )
        return {
            "candidates": list(self.candidates),
            "reflex": reflex,
            "reflex_offered": self.reflex_offered,
            "reflex_reason": self.reflex_reason,
            "gate": self.gate.as_json() if self.gate is not None else None,
            **({"rule": self.rule, "reason": self.reason} if self.requested is not None else {}),
        }


@dataclass(frozen=True)
class TokenBudgetDecision(Decision):
    TYPE: ClassVar[str] = "BudgetDecision"
    KIND: ClassVar[str | None] = "tokens"
    ALLOWED: ClassVar[frozenset[str]] = frozenset({"allow"})  # also deny, no_budget

    stage: str
    tokens: int
    budget: int | None
    decision: str  # allow | deny | no_budget
    reason: str

    def subject(self) -> dict[str, Any]:
        return {"stage": self.stage, "tokens": self.tokens, "budget": self.budget}

    def grounds(self) -> dict[str, Any]:
        return {"reason": self.reason}


@dataclass(frozen=True)
class CostBudgetDecision(Decision):
    TYPE: ClassVar[str] = "BudgetDecision"
    KIND: ClassVar[str | None] = "cost"
    ALLOWED: ClassVar[frozenset[str]] = frozenset({"ok", "warn"})  # also deny

    amount: float
    warn_threshold: float
    hard_limit: float
    decision: str  # ok | warn | deny
    reason: str

    def subject(self) -> dict[str, Any]:
        return {
            "amount": self.amount,
            "warn_threshold": self.warn_threshold,
            "hard_limit": self.hard_limit,
        }

    def grounds(self) -> dict[str, Any]:
        return {"reason": self.reason}
