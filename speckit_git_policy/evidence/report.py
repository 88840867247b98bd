"""The audit report's data (docs/DESIGN.md §8): the policy's timeline, every run with its
stages, the snapshot in force at each, its decisions and usage, and ``verify``'s state.

Built here as frozen, typed records from the library's own queries (``policy_log``,
the run logs, ``verify``); ``evidence.render`` turns them into Markdown or HTML through
templates, and ``attest`` reuses a run's record as its predicate. Nothing here formats
text for a reader: values stay as the capsule and git gave them, escaping is the
templates' business.

Usage comes from ``UsageRecorded`` events (the ledger of call-time enforcement). They
are read defensively: a field that is absent or of the wrong type counts as unknown,
never as zero, and a run without such events says "no usage recorded".
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from speckit_git_policy import __version__, clock
from speckit_git_policy.enforce.ledger import Ledger
from speckit_git_policy.errors import BadInput, SpeckitError
from speckit_git_policy.runs.events import (
    CHECKPOINT,
    POLICY_SNAPSHOT_REF,
    STAGE_TRANSITION,
    USAGE_RECORDED,
)

if TYPE_CHECKING:
    from speckit_git_policy.git.repo import GitRepo
    from speckit_git_policy.queries.verify import Report as VerifyReport
    from speckit_git_policy.runs.records import Event
    from speckit_git_policy.store import Stores


# A decision's verdicts that refuse the work (the rest let it go on, a warning included).
DENIED_VERDICTS = frozenset({"deny", "denied", "fail", "refuse", "refused"})

# Cost of a run against the thresholds of the policy in force at its end (docs/DESIGN.md §7:
# at the warn threshold it warns, at the hard limit it is refused).
COST_OK, COST_WARN, COST_OVER, COST_UNKNOWN = "ok", "warn", "over", "unknown"

# A run with call-time enforcement records a decision or two per model call: a reader
# gets every decision of a short run, and of a long one the denials and warnings one by
# one and the rest counted by kind and verdict (``--format json`` keeps every one).
LISTED_MAX = 20
NOTABLE_MAX = 100


# ---- records ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyChange:
    """One commit that carries a snapshot (an entry of ``log``), and whether its policy
    passed validation (None: no copy of the snapshot could be read)."""

    commit: str
    policy_id: str
    uri: str
    hash: str | None
    author: str | None
    date: str | None
    subject: str | None
    changed: tuple[str, ...]
    validated: bool | None
    trigger: str | None
    first: bool = False  # the oldest entry of the history: it sets every key


@dataclass(frozen=True)
class Boundary:
    """Where a run's policy could change: its start, a stage transition, a checkpoint.
    ``policy_changed``: the sources differed from the snapshot in force before it, so
    this event points at a new snapshot and names the one it replaced."""

    seq: int
    timestamp: str
    kind: str  # start | stage | checkpoint
    name: str | None  # the stage entered, or the checkpoint's label
    from_stage: str | None
    policy_id: str | None
    policy_uri: str | None
    commit: str | None
    policy_changed: bool
    replaced_policy_id: str | None


@dataclass(frozen=True)
class DecisionRow:
    """A decision recorded in the run (route, budgets, gates)."""

    seq: int
    timestamp: str
    type: str
    kind: str | None
    verdict: str | None
    ok: bool | None
    about: tuple[tuple[str, str], ...]  # what was decided about: (field, value) pairs
    reason: str | None
    policy_id: str | None

    @property
    def denied(self) -> bool:
        return self.ok is False or (self.verdict or "").lower() in DENIED_VERDICTS


@dataclass(frozen=True)
class DecisionGroup:
    """Decisions of one type, kind and verdict in a run, counted."""

    type: str
    kind: str | None
    verdict: str | None
    count: int
    denied: bool


@dataclass(frozen=True)
class StageUsage:
    """Tokens of one stage's ``UsageRecorded`` events against its budget."""

    stage: str | None  # None: calls made before the first stage
    calls: int
    input_tokens: int
    output_tokens: int
    budget: int | None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.tokens > self.budget


@dataclass(frozen=True)
class ModelUsage:
    """Calls per (model requested, model served) pair."""

    model_requested: str | None
    model_served: str | None
    calls: int
    input_tokens: int
    output_tokens: int
    cost: float | None  # sum of the known costs; None when no call had one


@dataclass(frozen=True)
class Usage:
    """A run's usage ledger (its ``UsageRecorded`` events)."""

    calls: int
    input_tokens: int
    output_tokens: int
    cost: float | None  # sum of the known costs; None when no call had one
    unpriced_calls: int  # calls whose cost is unknown (no [pricing] for the model)
    unknown_usage_calls: int  # calls that reported no token counts: not in the totals
    stages: tuple[StageUsage, ...]
    models: tuple[ModelUsage, ...]

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class RunReport:
    """One run: its boundaries, decisions (denials first) and usage against the budgets of
    the snapshot in force at its end. ``problem``: why the log could not be read."""

    run_id: str
    uri: str
    started_at: str | None
    last_at: str | None
    events: int
    boundaries: tuple[Boundary, ...]
    decisions: tuple[DecisionRow, ...]
    usage: Usage | None  # None: no usage recorded
    policies: tuple[str, ...]  # the snapshots that governed it, in order
    warn_threshold: float | None
    hard_limit: float | None
    problem: str | None = None

    @property
    def denials(self) -> int:
        return sum(decision.denied for decision in self.decisions)

    @property
    def policy_changes(self) -> int:
        return sum(boundary.policy_changed for boundary in self.boundaries)

    @property
    def stages(self) -> tuple[Boundary, ...]:
        return tuple(b for b in self.boundaries if b.kind == "stage")

    @property
    def listed_boundaries(self) -> tuple[Boundary, ...]:
        """Every boundary of a short run; of a long one, all but the checkpoints at which
        the policy did not change (``unlisted_checkpoints`` counts them)."""
        if len(self.boundaries) <= LISTED_MAX:
            return self.boundaries
        return tuple(b for b in self.boundaries if b.kind != "checkpoint" or b.policy_changed)

    @property
    def unlisted_checkpoints(self) -> int:
        return len(self.boundaries) - len(self.listed_boundaries)

    @property
    def listed_decisions(self) -> tuple[DecisionRow, ...]:
        """Every decision of a short run; of a long one its denials and warnings (at most
        ``NOTABLE_MAX``), the rest being counted in ``decision_groups``."""
        if len(self.decisions) <= LISTED_MAX:
            return self.decisions
        notable = [d for d in self.decisions if d.denied or (d.verdict or "") == "warn"]
        return tuple(notable[:NOTABLE_MAX])

    @property
    def decision_groups(self) -> tuple[DecisionGroup, ...]:
        counts: dict[tuple[str, str | None, str | None, bool], int] = {}
        for d in self.decisions:
            key = (d.type, d.kind, d.verdict, d.denied)
            counts[key] = counts.get(key, 0) + 1
        return tuple(
            DecisionGroup(kind, sub, verdict, count, denied)
            for (kind, sub, verdict, denied), count in sorted(
                counts.items(),
                key=lambda item: (not item[0][3], item[0][0], str(item[0][1]), str(item[0][2])),
            )
        )

    @property
    def cost_status(self) -> str:
        cost = self.usage.cost if self.usage is not None else None
        if cost is None:
            return COST_UNKNOWN
        if self.hard_limit is not None and cost >= self.hard_limit:
            return COST_OVER
        if self.warn_threshold is not None and cost >= self.warn_threshold:
            return COST_WARN
        return COST_OK


@dataclass(frozen=True)
class VerifyProblem:
    severity: str
    kind: str
    where: str | None
    message: str
    repaired: bool


@dataclass(frozen=True)
class VerifyState:
    """``verify``'s verdict over the whole repository, read through its public report."""

    ok: bool
    checked: int
    problems: tuple[VerifyProblem, ...]

    @property
    def errors(self) -> int:
        return sum(p.severity == "error" and not p.repaired for p in self.problems)

    @property
    def warnings(self) -> int:
        return sum(p.severity != "error" for p in self.problems)


@dataclass(frozen=True)
class AuditReport:
    generated_at: str
    tool_version: str
    repository: str
    workspace: str
    head: str | None
    branch: str | None
    since: str | None
    policy_changes: tuple[PolicyChange, ...]
    runs: tuple[RunReport, ...]
    verify: VerifyState
    snapshots: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def denials(self) -> int:
        return sum(run.denials for run in self.runs)

    def policy_uri(self, policy_id: str) -> str:
        """The capsule URI of a snapshot a run names (as text: the run's log may be foreign)."""
        return f"mv2://{self.workspace}/policy/{policy_id}"

    @property
    def unvalidated(self) -> int:
        return sum(change.validated is False for change in self.policy_changes)

    @property
    def total_cost(self) -> float | None:
        costs = [run.usage.cost for run in self.runs if run.usage and run.usage.cost is not None]
        return sum(costs) if costs else None


# ---- reading events defensively -------------------------------------------------------
def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: object) -> int | None:
    """A token count: a non-negative integer (JSON true is no count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _amount(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    amount = float(value)
    return amount if amount == amount and amount not in (float("inf"), float("-inf")) else None


def _usage_fields(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """A ``UsageRecorded`` event's fields: at the top level, or under ``usage``."""
    nested = event.get("usage")
    if isinstance(nested, dict):
        return {**nested, **{k: v for k, v in event.items() if k != "usage"}}
    return event


def _scalar(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_scalar(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_scalar(v)}" for k, v in value.items())
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# What a decision was about, in the order a reader asks: who, which model, where, how much.
_ABOUT_FIELDS = (
    "role",
    "model",
    "model_requested",
    "stage",
    "gate",
    "tokens",
    "budget",
    "amount",
    "warn_threshold",
    "hard_limit",
    "rule",
)


def decision_row(event: Event) -> DecisionRow:
    body = event.get("decision")
    decision: Mapping[str, Any] = body if isinstance(body, dict) else {}
    ok = decision.get("ok")
    about = tuple(
        (name, _scalar(decision[name])) for name in _ABOUT_FIELDS if decision.get(name) is not None
    )
    reason = _text(decision.get("reason")) or _text(decision.get("reflex_reason"))
    return DecisionRow(
        seq=event["seq"],
        timestamp=event["timestamp"],
        type=event["type"],
        kind=_text(decision.get("kind")),
        verdict=_text(decision.get("decision")),
        ok=ok if isinstance(ok, bool) else None,
        about=about,
        reason=reason,
        policy_id=_text(event.get("policy_id")),
    )


def _boundary(event: Event, kind: str) -> Boundary:
    if kind == "stage":
        name = _text(event.get("to"))
    elif kind == "checkpoint":
        name = _text(event.get("label"))
    else:
        name = None
    return Boundary(
        seq=event["seq"],
        timestamp=event["timestamp"],
        kind=kind,
        name=name,
        from_stage=_text(event.get("from")),
        policy_id=_text(event.get("policy_id")),
        policy_uri=_text(event.get("policy_uri")),
        commit=_text(event.get("commit")),
        policy_changed=event.get("policy_changed") is True,
        replaced_policy_id=_text(event.get("replaced_policy_id")),
    )


_BOUNDARY_KINDS = {
    POLICY_SNAPSHOT_REF: "start",
    STAGE_TRANSITION: "stage",
    CHECKPOINT: "checkpoint",
}

# A snapshot's document by policy_id, or None when no copy of it can be read.
DocumentLookup = Callable[[str], "dict[str, Any] | None"]


def _budgets(document: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    budgets = (document or {}).get("budgets")
    budgets = budgets if isinstance(budgets, dict) else {}
    tokens, cost = budgets.get("tokens"), budgets.get("cost")
    return (tokens if isinstance(tokens, dict) else {}), (cost if isinstance(cost, dict) else {})


def _usage(ledger: Ledger, budget_of: Callable[[str | None], int | None]) -> Usage | None:
    """The report's view of a run's usage ledger (enforce.ledger, as ``budget status``)."""
    if not ledger.total_calls:
        return None
    return Usage(
        calls=ledger.total_calls,
        input_tokens=sum(ledger.input_tokens.values()),
        output_tokens=sum(ledger.output_tokens.values()),
        cost=ledger.cost if ledger.priced_calls else None,
        unpriced_calls=ledger.unpriced_calls,
        unknown_usage_calls=ledger.unknown_usage_calls,
        stages=tuple(
            StageUsage(
                stage,
                calls,
                ledger.input_tokens[stage],
                ledger.output_tokens[stage],
                budget_of(stage),
            )
            for stage, calls in ledger.calls.items()
        ),
        models=tuple(
            ModelUsage(requested, served, calls, tokens_in, tokens_out, cost)
            for (requested, served), (calls, tokens_in, tokens_out, cost) in sorted(
                ledger.models.items(), key=lambda item: (-item[1][0], str(item[0]))
            )
        ),
    )


def run_report(run_id: str, uri: str, events: list[Event], documents: DocumentLookup) -> RunReport:
    """A run's record from its events (in seq order) and the snapshots they name."""
    boundaries: list[Boundary] = []
    decisions: list[DecisionRow] = []
    policies: list[str] = []
    ledger = Ledger()
    stage: str | None = None
    stage_policy: dict[str | None, str | None] = {}  # the snapshot each stage was entered under
    last_policy: str | None = None
    for event in events:
        policy_id = _text(event.get("policy_id"))
        if policy_id is not None:
            last_policy = policy_id
            if policy_id not in policies:
                policies.append(policy_id)
        kind = event["type"]
        if kind in _BOUNDARY_KINDS:
            boundaries.append(_boundary(event, _BOUNDARY_KINDS[kind]))
            if kind == STAGE_TRANSITION:
                stage = _text(event.get("to"))
                stage_policy[stage] = policy_id
        elif kind == USAGE_RECORDED:
            ledger.add(_usage_fields(event), stage)
        elif kind.endswith("Decision"):
            decisions.append(decision_row(event))
    final = documents(last_policy) if last_policy is not None else None
    _tokens, cost = _budgets(final)

    def budget_of(name: str | None) -> int | None:
        if name is None:
            return None
        governing = stage_policy.get(name, last_policy)
        tokens, _ = _budgets(documents(governing) if governing is not None else None)
        return _count(tokens.get(name))

    # Denials first: they are what an auditor asks about; then in the order they happened.
    decisions.sort(key=lambda row: (not row.denied, row.seq))
    return RunReport(
        run_id=run_id,
        uri=uri,
        started_at=events[0]["timestamp"] if events else None,
        last_at=max((event["timestamp"] for event in events), default=None),
        events=len(events),
        boundaries=tuple(boundaries),
        decisions=tuple(decisions),
        usage=_usage(ledger, budget_of),
        policies=tuple(policies),
        warn_threshold=_amount(cost.get("warn_threshold")),
        hard_limit=_amount(cost.get("hard_limit")),
    )


def unreadable_run(run_id: str, uri: str, problem: str) -> RunReport:
    return RunReport(run_id, uri, None, None, 0, (), (), None, (), None, None, problem)


def verify_state(report: VerifyReport) -> VerifyState:
    problems = tuple(
        VerifyProblem(p.severity, p.kind, p.uri or p.path, p.message, p.repaired)
        for p in report.problems
    )
    return VerifyState(report.ok, report.checked, problems)


# ---- dates ------------------------------------------------------------------------------
def parse_since(text: str) -> datetime.datetime:
    """``--since``: an ISO 8601 date (midnight UTC) or date-time (UTC without an offset)."""
    try:
        if len(text) == 10:
            moment = datetime.datetime.strptime(text, "%Y-%m-%d")
        else:
            moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise BadInput(
            f"--since {text!r} is not a date: use YYYY-MM-DD or an ISO 8601 date-time"
        ) from e
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def moment_of(text: str | None) -> datetime.datetime | None:
    """An event timestamp (``clock`` format) or a git ISO date, as an aware datetime."""
    if not text:
        return None
    try:
        return clock.parse(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.timezone.utc)


def _on_or_after(text: str | None, since: datetime.datetime | None) -> bool:
    if since is None:
        return True
    moment = moment_of(text)
    return moment is not None and moment >= since


# ---- the whole report --------------------------------------------------------------------
class SnapshotDocuments:
    """Snapshot documents by policy_id, each read (and its hash checked) once."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self._cache: dict[str, dict[str, Any] | None] = {}

    def __call__(self, policy_id: str) -> dict[str, Any] | None:
        if policy_id not in self._cache:
            try:
                self._cache[policy_id] = self.stores.load(policy_id)
            except SpeckitError:
                self._cache[policy_id] = None  # `verify` says why; the report shows the gap
        return self._cache[policy_id]


def policy_changes(repo: GitRepo, stores: Stores, documents: DocumentLookup) -> list[PolicyChange]:
    """``log``'s entries, with each snapshot's validation mark and trigger."""
    from speckit_git_policy.queries.history import policy_log

    changes = []
    entries = policy_log(repo, stores)
    for index, entry in enumerate(entries):
        document = documents(entry["policy_id"])
        provenance = (document or {}).get("provenance")
        provenance = provenance if isinstance(provenance, dict) else {}
        validated = provenance.get("validated")
        changes.append(
            PolicyChange(
                commit=entry["commit"],
                policy_id=entry["policy_id"],
                uri=stores.uri(entry["policy_id"]),
                hash=entry["hash"],
                author=entry["author"],
                date=entry["date"],
                subject=entry["subject"],
                changed=tuple(entry["changed"]),
                validated=validated if isinstance(validated, bool) else None,
                trigger=_text(provenance.get("trigger")),
                first=index == len(entries) - 1,
            )
        )
    return changes


def run_reports(
    stores: Stores, documents: DocumentLookup, since: datetime.datetime | None = None
) -> list[RunReport]:
    """Every run (started at or after ``since``), oldest start first."""
    from speckit_git_policy.runs.events import parse_event, read_events

    capsule = stores.capsule
    if capsule is None:
        return []  # run logs live in the capsule only
    if since is None:
        run_ids = capsule.run_ids()
    else:  # each run's first event alone says whether it started in the period
        run_ids = []
        for summary in capsule.run_summaries():
            try:
                first = parse_event(summary["first"], summary["run_id"], 0)
            except SpeckitError:
                run_ids.append(summary["run_id"])  # unreadable: reported, whatever its date
                continue
            if _on_or_after(first["timestamp"], since):
                run_ids.append(summary["run_id"])
    reports = []
    for run_id in run_ids:
        uri = capsule.run_uri(run_id)
        try:
            events = read_events(capsule, run_id)
        except SpeckitError as e:
            reports.append(unreadable_run(run_id, uri, str(e)))
            continue
        reports.append(run_report(run_id, uri, events, documents))
    reports.sort(key=lambda run: (run.started_at or "", run.run_id))
    return reports


def build_report(
    repo: GitRepo,
    *,
    since: str | None = None,
    verify_report: VerifyReport | None = None,
    stores: Stores | None = None,
) -> AuditReport:
    """The report of the repository's policy history, runs and verification state.

    ``verify_report``: a ``verify()`` result already at hand (else ``verify`` runs here,
    without repairing anything: a report changes nothing).
    """
    from speckit_git_policy.queries.verify import verify
    from speckit_git_policy.store import Stores

    stores = stores or Stores(repo)
    moment = parse_since(since) if since is not None else None
    documents = SnapshotDocuments(stores)
    changes = [
        change
        for change in policy_changes(repo, stores, documents)
        if _on_or_after(change.date, moment)
    ]
    runs = run_reports(stores, documents, moment)
    checked = verify_report if verify_report is not None else verify(repo)
    notes = []
    if stores.capsule is None:
        notes.append("the capsule is turned off (speckit.capsule=false): no run logs to report")
    return AuditReport(
        generated_at=clock.now(),
        tool_version=__version__,
        repository=os.path.basename(repo.root),
        workspace=stores.workspace,
        head=repo.head(),
        branch=repo.current_branch(),
        since=moment.isoformat() if moment is not None else None,
        policy_changes=tuple(changes),
        runs=tuple(runs),
        verify=verify_state(checked),
        snapshots=len(stores.ids()),
        notes=tuple(notes),
    )


def as_json(value: Any) -> Any:
    """A record as JSON data (``report --format json``), derived fields included."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in _DERIVED.get(type(value).__name__, ()):
            data[name] = as_json(getattr(value, name))
        return data
    if isinstance(value, (list, tuple)):
        return [as_json(item) for item in value]
    return value


_DERIVED: dict[str, Iterable[str]] = {
    "RunReport": ("denials", "policy_changes", "cost_status"),
    "DecisionRow": ("denied",),
    "StageUsage": ("tokens", "over_budget"),
    "Usage": ("tokens",),
    "AuditReport": ("denials", "unvalidated", "total_cost"),
}
