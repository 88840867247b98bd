"""What the guard decides and records, whatever the HTTP library (docs/DESIGN.md §7).

A :class:`Guard` is bound to a run, a role and a stage. Before a call it decides, under
the run's governing snapshot and holding the run's lock: may the role use the model
(``route_model``); do the stage's tokens so far, the tokens other calls of this process
hold in flight and the request's ``max_tokens`` stay within ``budgets.tokens.<stage>``;
is the run's cost so far below ``budgets.cost.hard_limit`` (a warning is recorded once
when it reaches ``warn_threshold``). A refusal is appended as its decision and answered
with an HTTP 403 the SDKs raise as their permission error and never retry. After the
response, a ``UsageRecorded`` event is appended before the caller gets the result (for a
stream: before it gets the event that carried the final usage).

The ledger of a run (``enforce.ledger.Ledger``) is shared by every guard of the same
:class:`~speckit_git_policy.runs.run.Run` object; it follows the Run's appends and what
``Run.refresh`` learns of other writers, so it is never re-read whole.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from speckit_git_policy.enforce.ledger import Ledger, price_call
from speckit_git_policy.enforce.rules import budget_cost, budget_tokens, route, route_model
from speckit_git_policy.errors import BadInput
from speckit_git_policy.guard.wire import OTHER, Call, Usage
from speckit_git_policy.runs.events import STAGE_MAX, _check_text
from speckit_git_policy.runs.records import PolicyInForce

if TYPE_CHECKING:
    from speckit_git_policy.enforce.decisions import Decision
    from speckit_git_policy.runs.records import Event
    from speckit_git_policy.runs.run import Run

REFUSED_STATUS = 403
WARNING_HEADER = "x-speckit-policy-warning"


class _Book:
    """One Run's ledger and the tokens this process holds in flight, per stage."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.in_flight: dict[str, int] = {}
        self.cost_warned = False

    def follow(self, events: list[Event], reset: bool) -> None:
        if reset:
            self.ledger = Ledger()
        for event in events:
            self.ledger.add(event)
            decision = event.get("decision") or {}
            if decision.get("kind") == "cost" and decision.get("decision") == "warn":
                self.cost_warned = True


_books: weakref.WeakKeyDictionary[Run, _Book] = weakref.WeakKeyDictionary()


def _book_of(run: Run) -> _Book:
    with run.lock:
        book = _books.get(run)
        if book is None:
            book = _books[run] = _Book()
            run.follow(book.follow)
        return book


@dataclass
class Refusal:
    """A call refused before it left the process: the decision, and the event recording it."""

    decision: Decision
    rule: str
    reason: str
    event: Event
    run_id: str

    def body(self) -> bytes:
        """The 403's JSON: the error both SDKs read (``error.message``), naming the rule
        and the policy, with the decision as recorded."""
        policy = self.decision.policy
        message = (
            f"speckit-git-policy refused the call: {self.reason} "
            f"(rule {self.rule}; policy {policy.policy_id}, hash {policy.policy_hash[:12]}; "
            f"run {self.run_id}, event {self.event['seq']})"
        )
        error = {
            "type": "permission_error",
            "code": "speckit_policy_denied",
            "param": None,
            "message": message,
            "rule": self.rule,
            "policy_id": policy.policy_id,
            "policy_hash": policy.policy_hash,
            "policy_uri": policy.policy_uri,
            "run_id": self.run_id,
            "event_id": self.event["event_id"],
            "decision": self.decision.as_json(),
        }
        return json.dumps({"type": "error", "error": error}).encode()

    def headers(self) -> dict[str, str]:
        return {
            "content-type": "application/json",
            "x-should-retry": "false",  # both SDKs honour it; a refusal is not transient
            "x-speckit-policy-rule": self.rule,
        }


@dataclass
class Admitted:
    """A call let through: what it holds, and what to say about it."""

    call: Call
    held: int
    warning: str | None = None


class Guard:
    """The decisions and records of one (run, role, stage); shared by the transports."""

    def __init__(self, run: Run, *, role: str, stage: str) -> None:
        _check_text("stage", stage, STAGE_MAX)
        if not isinstance(role, str) or not role:
            raise BadInput("role is empty")
        self.run = run
        self.role = role
        self.stage = stage
        self._book = _book_of(run)
        route(self._policy(), role)  # an unknown role is BadInput now, not at each call

    def _policy(self) -> PolicyInForce:
        governing = self.run.governing
        return PolicyInForce(
            governing.policy_id,
            governing.policy_hash,
            governing.policy_uri,
            governing.commit,
            document=self.run.document(governing.policy_id),
        )

    # ---- before the call ---------------------------------------------------------------
    def admit(self, call: Call) -> Admitted | Refusal:
        with self.run.lock:
            self.run.refresh()  # what other writers appended: their usage, a new snapshot
            policy = self._policy()
            route = route_model(policy, self.role, call.model)
            if not route.ok:
                return self._refuse(route, route.rule, route.reason)
            if call.api == OTHER:
                return Admitted(call, 0)
            book = self._book
            held = book.in_flight.get(self.stage, 0)
            tokens = budget_tokens(
                policy, self.stage, book.ledger.used(self.stage) + held + call.max_tokens
            )
            if not tokens.ok:
                reason = tokens.reason + (
                    f" (used {book.ledger.used(self.stage)}, {held} held by calls in flight, "
                    f"max_tokens {call.max_tokens})"
                )
                return self._refuse(tokens, f"budgets.tokens.{self.stage}", reason)
            cost = budget_cost(policy, book.ledger.cost)
            if not cost.ok:
                return self._refuse(cost, "budgets.cost.hard_limit", cost.reason)
            warning = None
            if cost.decision == "warn":
                warning = cost.reason
                if not book.cost_warned:
                    self.run.decision(cost.as_event())  # once per run: the ledger remembers
            book.in_flight[self.stage] = held + call.max_tokens
            return Admitted(call, call.max_tokens, warning)

    def _refuse(self, decision: Decision, rule: str, reason: str) -> Refusal:
        event = self.run.decision(decision.as_event())
        return Refusal(decision, rule, reason, event, self.run.run_id)

    # ---- after the call ----------------------------------------------------------------
    def release(self, admitted: Admitted) -> None:
        """The call failed or was not accounted: it holds nothing any more."""
        with self.run.lock:
            left = self._book.in_flight.get(self.stage, 0) - admitted.held
            self._book.in_flight[self.stage] = max(left, 0)
            admitted.held = 0

    def record(
        self, admitted: Admitted, usage: Usage, *, streamed: bool, request_id: str | None
    ) -> Event | None:
        """Append the call's ``UsageRecorded`` (nothing for a call of no accounted api)."""
        call = admitted.call
        if call.api == OTHER:
            self.release(admitted)
            return None
        with self.run.lock:
            try:
                document = self._policy().document or {}
                cost, why = price_call(
                    document,
                    usage.model_served,
                    call.model,
                    usage.input_tokens,
                    usage.output_tokens,
                )
                fields: dict[str, Any] = {
                    "stage": self.stage,
                    "role": self.role,
                    "api": call.api,
                    "model_requested": call.model,
                    "model_served": usage.model_served,
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "cost": cost,
                    "cost_reason": why,
                    "streamed": streamed,
                    "complete": usage.complete,
                    "request_id": request_id,
                    "usage": _bounded(usage.reported),
                }
                return self.run.usage(fields)  # type: ignore[arg-type]  # EventBody's usage keys
            finally:
                self.release(admitted)


def _bounded(reported: dict[str, Any]) -> dict[str, Any]:
    """The provider's usage object as recorded: kept whole unless it is unreasonably big
    (a capsule event stays small); then only its counts."""
    text = json.dumps(reported, default=str)
    if len(text) <= 16 * 1024:
        return json.loads(text)  # type: ignore[no-any-return]  # a JSON object
    return {key: value for key, value in reported.items() if isinstance(value, (int, float))}
