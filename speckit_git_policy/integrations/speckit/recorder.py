"""Record Spec Kit stages in the policy run of the current feature (docs/DESIGN.md §7).

What the workflow steps, the extension's hooks and the ``session_start`` event all call
(through ``policy-stage.sh`` → ``git speckit-policy speckit stage``). Recording never
depends on the agent obeying its prompt, and is idempotent:

* the run of a feature is named by its directory under ``specs/`` (the feature Spec Kit
  points at: ``SPECIFY_FEATURE_DIRECTORY``, ``.specify/feature.json``, ``SPECIFY_FEATURE``),
  or by ``SPECKIT_POLICY_RUN``; it is started the first time a stage is recorded;
* a stage the run is already in records nothing (a hook after the workflow adds nothing);
* before a stage is recorded, earlier stages whose artefact exists (``spec.md``,
  ``plan.md``, ``tasks.md``) but which the run never entered are recorded first, marked
  ``via: inferred`` (an agent that skipped a hook; ``verify`` names them);
* a recorded stage comes with the route decision for its role and the token and cost
  budget decisions, under the snapshot in force at that boundary; a refused budget makes
  the report not ok (the command exits 1, the workflow stops).

Before ``specify`` has made the feature's directory there is no run to record in: the
stage is *pending* and only the route is given (under HEAD's policy).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from speckit_git_policy.errors import BadInput
from speckit_git_policy.ids import check_run_id
from speckit_git_policy.runs.events import SPEC_KIT_STAGES, STAGE_TRANSITION, check_correlation_id

if TYPE_CHECKING:
    from speckit_git_policy.git.repo import GitRepo
    from speckit_git_policy.runs.records import Event, PolicyInForce
    from speckit_git_policy.runs.run import Run

RUN_ENV = "SPECKIT_POLICY_RUN"
DONE = "done"
SESSION = "session_start"
STAGES = (*SPEC_KIT_STAGES, DONE, SESSION)
DONE_LABEL = "implement-complete"
# The role whose models a stage is routed to (docs/GUIDE.md: --role overrides).
STAGE_ROLES = {
    "specify": "architect",
    "plan": "architect",
    "tasks": "architect",
    "implement": "implementer",
}
# The artefact a stage leaves in the feature's directory.
ARTEFACTS = (("specify", "spec.md"), ("plan", "plan.md"), ("tasks", "tasks.md"))
VIA = ("workflow", "hook", "event", "cli")
INFERRED = "inferred"


class Feature(TypedDict):
    root: str
    directory: str | None  # relative to root; None before specify made it
    run_id: str | None
    source: str


class StageReport(TypedDict):
    """``speckit stage --json``: what the workflow's shell steps read (``data.model``)."""

    ok: bool
    run_id: str | None
    stage: str
    pending: bool
    role: str | None
    model: str | None
    candidates: list[str]
    recorded: list[dict[str, Any]]
    policy_id: str
    policy_hash: str
    policy_changed: bool
    tokens: dict[str, Any] | None
    cost: dict[str, Any] | None
    message: str


def project_root(start: Path) -> Path:
    """The Spec Kit project: the nearest directory holding ``.specify/``."""
    here = start.resolve()
    for directory in (here, *here.parents):
        if (directory / ".specify").is_dir():
            return directory
    raise BadInput(f"{start}: not in a Spec Kit project (no .specify/ here or above)")


def current_feature(root: Path, environ: Mapping[str, str]) -> Feature:
    """The feature Spec Kit points at, and the run that records it."""
    forced = environ.get(RUN_ENV)
    directory, source = _feature_directory(root, environ)
    if forced:
        return {
            "root": str(root),
            "directory": directory,
            "run_id": check_run_id(forced),
            "source": RUN_ENV,
        }
    run_id = None
    if directory is not None:
        name = Path(directory).name
        try:
            run_id = check_run_id(name)
        except BadInput as e:
            raise BadInput(
                f"feature directory {directory!r} cannot name a run ({e}); set {RUN_ENV}"
            ) from e
    return {"root": str(root), "directory": directory, "run_id": run_id, "source": source}


def _feature_directory(root: Path, environ: Mapping[str, str]) -> tuple[str | None, str]:
    candidates: list[tuple[str, str]] = []
    if environ.get("SPECIFY_FEATURE_DIRECTORY"):
        candidates.append((environ["SPECIFY_FEATURE_DIRECTORY"], "SPECIFY_FEATURE_DIRECTORY"))
    pointer = root / ".specify" / "feature.json"
    if pointer.is_file():
        try:
            value = json.loads(pointer.read_text(encoding="utf-8")).get("feature_directory")
        except (OSError, ValueError, AttributeError):
            value = None
        if isinstance(value, str) and value:
            candidates.append((value, ".specify/feature.json"))
    if environ.get("SPECIFY_FEATURE"):
        candidates.append((f"specs/{environ['SPECIFY_FEATURE']}", "SPECIFY_FEATURE"))
    for value, source in candidates:
        path = (root / value).resolve() if not os.path.isabs(value) else Path(value).resolve()
        try:
            relative = path.relative_to(root.resolve())
        except ValueError:
            continue  # outside the project: not a feature of it
        if relative.parts[:1] == ("specs",) and len(relative.parts) == 2 and path.is_dir():
            return relative.as_posix(), source
    return None, "none"


def session_of(payload: str | None) -> str | None:
    """The agent's session id from its event payload (Claude Code, Gemini CLI: ``session_id``)."""
    if not payload:
        return None
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    session = value.get("session_id") if isinstance(value, dict) else None
    if not isinstance(session, str) or not session:
        return None
    try:
        return check_correlation_id("session id", session)
    except BadInput:
        return None


def _policy_of(run: Run) -> PolicyInForce:
    from speckit_git_policy.runs.records import PolicyInForce

    governing = run.governing
    return PolicyInForce(
        governing.policy_id,
        governing.policy_hash,
        governing.policy_uri,
        governing.commit,
        document=run.policy(),
    )


def _brief(event: Event) -> dict[str, Any]:
    kept = ("seq", "type", "event_id", "to", "from", "label", "via", "policy_changed")
    return {key: event[key] for key in kept if key in event}  # type: ignore[literal-required]


def record(
    repo: GitRepo,
    root: Path,
    stage: str,
    *,
    via: str,
    role: str | None = None,
    environ: Mapping[str, str] | None = None,
    payload: str | None = None,
) -> StageReport:
    """Record ``stage`` (``specify``…``implement``, ``done`` after implement, or
    ``session_start``) in the current feature's run; see the module's docstring."""
    from speckit_git_policy.enforce.ledger import Ledger
    from speckit_git_policy.enforce.rules import budget_cost, budget_tokens, route
    from speckit_git_policy.runs.run import Run

    if stage not in STAGES:
        raise BadInput(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    if via not in VIA:
        raise BadInput(f"unknown --via {via!r}; one of {', '.join(VIA)}")
    environ = os.environ if environ is None else environ
    feature = current_feature(root, environ)
    stage_role = role or STAGE_ROLES.get(stage)
    run_id = feature["run_id"]
    if run_id is None:
        return _pending(repo, stage, stage_role)
    session = session_of(payload)
    from speckit_git_policy.store import Stores

    stores = Stores(repo)
    capsule = stores.capsule
    recorded: list[Event] = []
    if capsule is not None and capsule.has_run(run_id):
        run = Run.open(repo, run_id, stores=stores, session_id=session)
    else:
        run = Run.start(repo, run_id, stores=stores, session_id=session)
        recorded.append(run.events()[0])
    events = run.events()
    visited = {e.get("to") for e in events if e["type"] == STAGE_TRANSITION}
    directory = root / feature["directory"] if feature["directory"] else None
    target = SPEC_KIT_STAGES.index(stage) if stage in SPEC_KIT_STAGES else len(SPEC_KIT_STAGES)
    for earlier, artefact in ARTEFACTS:
        if SPEC_KIT_STAGES.index(earlier) >= target or earlier in visited:
            continue
        if directory is not None and (directory / artefact).is_file():
            recorded.append(run.stage(earlier, via=INFERRED))
            visited.add(earlier)
    if stage == DONE and "implement" not in visited:
        recorded.append(run.stage("implement", via=INFERRED))
        visited.add("implement")
    entered = False
    if stage in SPEC_KIT_STAGES and run.current_stage != stage:
        recorded.append(run.stage(stage, via=via))
        entered = True
    elif stage == DONE and not _done_since_implement(run.events()):
        recorded.append(run.checkpoint(DONE_LABEL, via=via))
    policy = _policy_of(run)
    report_stage = stage if stage in SPEC_KIT_STAGES else (run.current_stage or stage)
    ok, tokens_json, cost_json = True, None, None
    model, candidates = None, []
    if stage in SPEC_KIT_STAGES and stage_role is not None:
        decision = route(policy, stage_role)
        candidates = list(decision.candidates)
        model = candidates[0] if candidates else None
        ledger = Ledger.of(run.events())
        tokens = budget_tokens(policy, stage, ledger.used(stage))
        cost = budget_cost(policy, ledger.cost)
        tokens_json, cost_json = tokens.as_json(), cost.as_json()
        ok = tokens.ok and cost.ok
        if entered:  # decisions come with the boundary they were made at, once
            for made in (decision, tokens, cost):
                recorded.append(run.decision(made.as_event()))
    changed = any(e.get("policy_changed") for e in recorded)
    report: StageReport = {
        "ok": ok,
        "run_id": run_id,
        "stage": report_stage,
        "pending": False,
        "role": stage_role if stage in SPEC_KIT_STAGES else None,
        "model": model,
        "candidates": candidates,
        "recorded": [_brief(e) for e in recorded],
        "policy_id": policy.policy_id,
        "policy_hash": policy.policy_hash,
        "policy_changed": changed,
        "tokens": tokens_json,
        "cost": cost_json,
        "message": "",
    }
    report["message"] = _message(report)
    return report


def _done_since_implement(events: list[Event]) -> bool:
    for event in reversed(events):
        if event["type"] == STAGE_TRANSITION:
            return False
        if event.get("label") == DONE_LABEL:
            return True
    return False


def _pending(repo: GitRepo, stage: str, role: str | None) -> StageReport:
    """No feature yet: the route under HEAD's policy, nothing recorded."""
    from speckit_git_policy.enforce.in_force import policy_in_force
    from speckit_git_policy.enforce.rules import route

    policy = policy_in_force(repo)
    candidates = list(route(policy, role).candidates) if role is not None else []
    report: StageReport = {
        "ok": True,
        "run_id": None,
        "stage": stage,
        "pending": True,
        "role": role,
        "model": candidates[0] if candidates else None,
        "candidates": candidates,
        "recorded": [],
        "policy_id": policy.policy_id,
        "policy_hash": policy.policy_hash,
        "policy_changed": False,
        "tokens": None,
        "cost": None,
        "message": "",
    }
    report["message"] = _message(report)
    return report


def _message(report: StageReport) -> str:
    """One line, for the agent that ran the hook (its context) and for a person."""
    head = (
        f"speckit-git-policy: policy {report['policy_id'][:8]} (hash {report['policy_hash'][:12]})"
    )
    if report["pending"]:
        what = (
            f"no feature directory yet: {report['stage']} is recorded once specs/<feature> exists"
        )
    else:
        done = [e.get("to") or e.get("label") or e["type"] for e in report["recorded"]]
        what = f"run {report['run_id']} in stage {report['stage']}; " + (
            f"recorded {', '.join(str(d) for d in done)}" if done else "nothing new to record"
        )
        if report["policy_changed"]:
            what += " (policy changed at this boundary)"
    parts = [head, what]
    if report["model"] is not None:
        parts.append(f"model for {report['role']}: {report['model']}")
    if report["tokens"] is not None and report["cost"] is not None:
        parts.append(f"tokens {report['tokens']['decision']}: {report['tokens']['reason']}")
        parts.append(f"cost {report['cost']['decision']}: {report['cost']['reason']}")
    return "; ".join(parts)
