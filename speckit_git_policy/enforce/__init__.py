"""Enforcement: decisions of routing, budgets and gates made under the snapshot in force
(``in_force``), typed (``decisions``), by the rules of ``rules`` over ``samples``.

The names below are re-exported lazily.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_EXPORTS = {
    "PolicyInForce": "in_force",
    "policy_in_force": "in_force",
    "Criterion": "decisions",
    "Decision": "decisions",
    "GateDecision": "decisions",
    "RouteDecision": "decisions",
    "TokenBudgetDecision": "decisions",
    "CostBudgetDecision": "decisions",
    "GATES": "rules",
    "route": "rules",
    "route_model": "rules",
    "allowed_models": "rules",
    "Ledger": "ledger",
    "budget_status": "ledger",
    "price_call": "ledger",
    "budget_tokens": "rules",
    "budget_cost": "rules",
    "gate_reflex_promotion": "rules",
    "gate_local_memory_sunset": "rules",
    "check_gate_name": "rules",
    "load_samples": "samples",
    "parse_samples": "samples",
    "parse_success": "samples",
    "parse_amount": "samples",
    "p95": "samples",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_EXPORTS)
