"""Enforcement (SPEC §7): routing, budgets and gates, decided under a stored snapshot.

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

import difflib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import BadInput, CheckFailed, SnapshotCorrupt
from .gitio import GitRepo
from .store import Stores

GATES = ("reflex_promotion", "local_memory_sunset")
MAX_SAMPLES_BYTES = 16 * 1024 * 1024  # far above any real latency log; refuses a runaway file
_COUNT = re.compile(r"[0-9]+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


# ---- the policy in force -----------------------------------------------------------


@dataclass(frozen=True)
class PolicyInForce:
    """A stored, validated snapshot, loaded for making decisions."""

    policy_id: str
    policy_hash: str
    policy_uri: str
    commit: str | None
    document: dict[str, Any] = field(repr=False, compare=False)

    def ref(self) -> dict[str, Any]:
        return {"policy_id": self.policy_id, "policy_hash": self.policy_hash,
                "policy_uri": self.policy_uri}

    def block(self, *path: str) -> dict[str, Any]:
        value: Any = self.document
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, dict):
            raise SnapshotCorrupt(self.policy_uri, f"has no table {'.'.join(path)}")
        return value


def policy_in_force(repo: GitRepo, stores: Stores | None = None, policy: str | None = None) -> PolicyInForce:
    """The snapshot decisions are made under.

    By default the snapshot of HEAD's committed policy, captured first when it
    never was (so that every decision names a stored snapshot); or ``policy``:
    an id, a unique id prefix, a ``mv2://`` URI or ``current``.
    """
    from .query import current, resolve_snapshot

    stores = stores or Stores(repo)
    if policy is not None:
        policy_id = resolve_snapshot(repo, stores, policy)
    else:
        state = current(repo, stores)
        policy_id = state["policy_id"]
        if policy_id is None:
            from .capture import capture

            policy_id = capture(repo, commit=state["commit"], trigger="manual", stores=stores).policy_id
    document = stores.load(policy_id)
    provenance = document.get("provenance") or {}
    if provenance.get("validated") is not True:
        raise CheckFailed(
            f"snapshot {policy_id} was captured from a policy that fails validation; "
            "no decision is made under it (fix the policy, commit, and decide again)"
        )
    return PolicyInForce(
        policy_id=policy_id,
        policy_hash=str(document["hash"]),
        policy_uri=stores.uri(policy_id),
        commit=provenance.get("commit"),
        document=document,
    )


# ---- the decisions ---------------------------------------------------------------------


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


# ---- samples ---------------------------------------------------------------------------


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _sample_value(token: str, where: str, what: str = "samples are durations") -> float:
    if not _NUMBER.fullmatch(token):
        if token.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise BadInput(f"{where}: {token!r} is not a finite number")
        raise BadInput(f"{where}: {token!r} is not a number")
    value = float(token)
    if not math.isfinite(value):
        raise BadInput(f"{where}: {token!r} is not a finite number")
    if value < 0:
        raise BadInput(f"{where}: {token!r} is negative; {what}")
    return value


def _json_samples(text: str, source: str) -> list[float]:
    """A JSON array of numbers, each error located to its line."""
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    values: list[float] = []

    def line_at(index: int) -> int:
        return text.count("\n", 0, index) + 1

    def skip_space(index: int) -> int:
        while index < len(text) and text[index] in " \t\r\n":
            index += 1
        return index

    position = skip_space(position)
    if position < len(text) and text[position] == "]":
        position += 1
    else:
        while True:
            where = f"{source}:{line_at(position)}"
            try:
                item, end = decoder.raw_decode(text, position)
            except json.JSONDecodeError as e:
                raise BadInput(f"{where}: not valid JSON ({e.msg})") from e
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise BadInput(f"{where}: {json.dumps(item)[:40]} is not a number")
            values.append(_sample_value(text[position:end], where))
            position = skip_space(end)
            if position < len(text) and text[position] == ",":
                position = skip_space(position + 1)
                continue
            if position < len(text) and text[position] == "]":
                position += 1
                break
            raise BadInput(f"{source}:{line_at(position)}: expected ',' or ']' in the JSON array")
    if text[position:].strip():
        raise BadInput(f"{source}:{line_at(position)}: unexpected text after the JSON array")
    return values


def parse_samples(text: str, source: str = "<samples>") -> tuple[float, ...]:
    """Samples from text: one number per line (blank lines and ``#`` comments allowed)
    or a JSON array of numbers. NaN, infinities, negatives, non-numbers and an empty
    list are BadInput naming ``source`` and the line."""
    if text.lstrip().startswith("["):
        values = _json_samples(text, source)
    else:
        values = []
        for number, line in enumerate(text.splitlines(), start=1):
            token = line.split("#", 1)[0].strip()
            if token:
                values.append(_sample_value(token, f"{source}:{number}"))
    if not values:
        raise BadInput(f"{source}: no samples (the file holds no numbers)")
    return tuple(values)


def load_samples(path: str | Path) -> tuple[float, ...]:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_SAMPLES_BYTES:
            raise BadInput(f"{path}: {size} bytes is more than the {MAX_SAMPLES_BYTES} a samples file may hold")
        data = path.read_bytes()
    except OSError as e:
        raise BadInput(f"{path}: cannot read samples: {e.strerror or e}") from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(f"{path}: not UTF-8 text") from e
    return parse_samples(text, str(path))


def _checked(samples: Sequence[float], what: str) -> tuple[float, ...]:
    """Samples handed to the library directly get the same checks as a file's."""
    values = tuple(samples)
    if not values:
        raise BadInput(f"{what}: no samples")
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadInput(f"{what}[{index}]: {value!r} is not a number")
        if not math.isfinite(value) or value < 0:
            raise BadInput(f"{what}[{index}]: {value!r} is not a finite, non-negative number")
    return values


def p95(samples: Sequence[float]) -> float:
    """Nearest-rank 95th percentile: the sample at rank ceil(0.95 n) of the sorted samples."""
    values = sorted(_checked(samples, "samples"))
    rank = (95 * len(values) + 99) // 100  # ceil without float rounding
    return float(values[rank - 1])


def _exact(value: float) -> Fraction:
    """A policy number as the decimal its author wrote (85.1 is 851/10, not the float's binary)."""
    return Fraction(repr(float(value)))


# ---- routing ---------------------------------------------------------------------------


def route(policy: PolicyInForce, role: str, reflex_gate: GateDecision | None = None) -> RouteDecision:
    """Ordered cloud candidates for ``role``, and the reflex route when it is enabled and
    ``reflex_gate`` (a reflex_promotion decision under the same policy) passed."""
    cloud = policy.block("routing", "cloud")
    if role not in cloud:
        raise BadInput(f"unknown role {role!r}{_did_you_mean(role, sorted(cloud))}; "
                       f"routing.cloud names: {', '.join(sorted(cloud))}")
    reflex = policy.document["routing"].get("reflex") or {}
    endpoint = model = None
    if reflex_gate is not None:
        if reflex_gate.gate != "reflex_promotion":
            raise BadInput(f"the reflex route needs a reflex_promotion gate decision, not {reflex_gate.gate}")
        if reflex_gate.policy.policy_hash != policy.policy_hash:
            raise BadInput(f"the gate decision was made under {reflex_gate.policy.policy_id}, "
                           f"not under {policy.policy_id}; evaluate the gate under this policy")
    if not reflex.get("enabled"):
        why = "routing.reflex.enabled is false"
    elif reflex_gate is None:
        why = "reflex_promotion gate not evaluated: no latency and success evidence supplied"
    elif not reflex_gate.passed:
        why = f"reflex_promotion gate failed: {reflex_gate.reason}"
    else:
        endpoint, model = reflex.get("endpoint"), reflex.get("model")
        why = "reflex enabled and reflex_promotion gate passed"
    return RouteDecision(policy=policy, role=role, candidates=tuple(cloud[role]),
                         reflex_endpoint=endpoint, reflex_model=model, reflex_reason=why,
                         gate=reflex_gate)


# ---- budgets ---------------------------------------------------------------------------


def budget_tokens(policy: PolicyInForce, stage: str, tokens: int) -> TokenBudgetDecision:
    """A stage's token use against ``budgets.tokens``: at or below the budget is allowed."""
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise BadInput(f"token count must be a non-negative integer, not {tokens!r}")
    budgets = policy.block("budgets", "tokens")
    budget = budgets.get(stage)
    if budget is None:
        known = ", ".join(sorted(budgets)) or "none"
        return TokenBudgetDecision(
            policy, stage, tokens, None, "no_budget",
            f"stage {stage!r} has no token budget{_did_you_mean(stage, sorted(budgets))}; "
            f"budgets.tokens names: {known}")
    if tokens <= budget:
        return TokenBudgetDecision(policy, stage, tokens, budget, "allow",
                                   f"{tokens} tokens is within the {stage} budget of {budget}")
    return TokenBudgetDecision(policy, stage, tokens, budget, "deny",
                               f"{tokens} tokens exceeds the {stage} budget of {budget} by {tokens - budget}")


def budget_cost(policy: PolicyInForce, amount: float) -> CostBudgetDecision:
    """A run's accumulated cost: deny at or above hard_limit, warn at or above warn_threshold."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) \
            or not math.isfinite(amount) or amount < 0:
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


def parse_amount(text: str) -> float:
    """A cost given as text (the CLI's argument)."""
    return _sample_value(text.strip(), "cost", "a cost cannot be negative")


# ---- gates -----------------------------------------------------------------------------


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
    return GateDecision(policy, "reflex_promotion", (
        Criterion("p95_latency_ms", limit, measured_p95, "<=", latency_ok,
                  detail=f"p95 {measured_p95:g} ms of {len(latencies_ms)} samples "
                         f"{'within' if latency_ok else 'above'} {limit:g} ms"),
        Criterion("success_parity_percent", percent, float(parity), ">=", parity_ok,
                  detail=f"{local_successes}/{cloud_successes} successes = {float(parity):g}% "
                         f"{'meets' if parity_ok else 'below'} {percent:g}%"),
    ))


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
        detail = f"local p95 {local_p95:g} {'<=' if parity_ok else '>'} reference p95 {reference_p95:g}"
    elif retrieval_parity is not None:
        parity_ok = bool(retrieval_parity)
        measured, threshold, comparison = parity_ok, True, "=="
        detail = "parity stated" if parity_ok else "parity stated as not reached"
    elif required:
        raise BadInput("gates.local_memory_sunset.retrieval_p95_parity is required: give local and "
                       "reference retrieval samples, or state parity")
    else:
        parity_ok, measured, threshold, comparison, detail = True, None, None, "==", ""
    if not required:
        parity_ok = True
        detail = ("not required (gates.local_memory_sunset.retrieval_p95_parity = false)"
                  + (f"; {detail}" if detail else ""))
    days_needed = int(gate["stability_days"])
    days_ok = stable_days >= days_needed
    return GateDecision(policy, "local_memory_sunset", (
        Criterion("retrieval_p95_parity", threshold, measured, comparison, parity_ok,
                  required=required, detail=detail),
        Criterion("stability_days", days_needed, stable_days, ">=", days_ok,
                  detail=f"{stable_days} stable days {'meets' if days_ok else 'below'} {days_needed}"),
    ))


def check_gate_name(name: str) -> str:
    if name not in GATES:
        raise BadInput(f"unknown gate {name!r}{_did_you_mean(name, GATES)}; gates: {', '.join(GATES)}")
    return name


def parse_success(text: str) -> tuple[int, int]:
    """``LOCAL/CLOUD`` success counts, e.g. ``85/100``."""
    local, slash, cloud = text.partition("/")
    if not slash or not _COUNT.fullmatch(local.strip()) or not _COUNT.fullmatch(cloud.strip()):
        raise BadInput(f"success counts {text!r}: expected LOCAL/CLOUD, e.g. 85/100")
    return int(local), int(cloud)


__all__ = [
    "GATES",
    "CostBudgetDecision",
    "Criterion",
    "Decision",
    "GateDecision",
    "PolicyInForce",
    "RouteDecision",
    "TokenBudgetDecision",
    "budget_cost",
    "budget_tokens",
    "check_gate_name",
    "gate_local_memory_sunset",
    "gate_reflex_promotion",
    "load_samples",
    "p95",
    "parse_amount",
    "parse_samples",
    "parse_success",
    "policy_in_force",
    "route",
]
