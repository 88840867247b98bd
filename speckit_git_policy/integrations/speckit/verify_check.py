"""``verify``'s Spec Kit check: a feature whose artefacts exist but whose run lacks the stage.

In a project where the policy extension is installed, each feature directory under
``specs/`` is a run of the same name. A ``spec.md``, ``plan.md`` or ``tasks.md`` whose
stage the run never entered is an error (an agent that skipped its hooks, outside the
workflow, in a session whose start event did not run); a stage recorded after the fact
(``via: inferred``, from the artefact) is a warning. Both name the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from speckit_git_policy.errors import BadInput
from speckit_git_policy.ids import check_run_id
from speckit_git_policy.integrations.speckit.installer import EXTENSION_ID
from speckit_git_policy.integrations.speckit.recorder import ARTEFACTS, INFERRED
from speckit_git_policy.runs.events import STAGE_TRANSITION, read_events

if TYPE_CHECKING:
    from speckit_git_policy.git.repo import GitRepo


class FeatureProblem(TypedDict):
    severity: str  # error | warning
    message: str
    uri: str | None
    extra: dict[str, Any]


def _fix(feature: str) -> str:
    return (
        f"record what happened: SPECIFY_FEATURE_DIRECTORY=specs/{feature} "
        "git speckit-policy speckit stage session_start --via cli"
    )


def feature_problems(repo: GitRepo) -> list[FeatureProblem]:
    root = repo.work_tree
    if root is None or not (Path(root) / ".specify" / "extensions" / EXTENSION_ID).is_dir():
        return []
    from speckit_git_policy.store import Stores

    capsule = Stores(repo).capsule
    specs = Path(root) / "specs"
    if capsule is None or not specs.is_dir():
        return []
    problems: list[FeatureProblem] = []
    for directory in sorted(path for path in specs.iterdir() if path.is_dir()):
        present = [stage for stage, name in ARTEFACTS if (directory / name).is_file()]
        if not present:
            continue
        feature = directory.name
        try:
            run_id = check_run_id(feature)
        except BadInput:
            continue  # not a run's name: recorded under SPECKIT_POLICY_RUN, if at all
        extra: dict[str, Any] = {"feature": f"specs/{feature}", "run_id": run_id}
        if not capsule.has_run(run_id):
            problems.append(
                {
                    "severity": "error",
                    "message": f"feature specs/{feature} has {', '.join(present)} artefacts "
                    f"but no policy run {run_id!r}; {_fix(feature)}",
                    "uri": None,
                    "extra": {**extra, "missing": present},
                }
            )
            continue
        transitions = {
            str(e.get("to")): e
            for e in read_events(capsule, run_id)
            if e["type"] == STAGE_TRANSITION
        }
        uri = capsule.run_uri(run_id)
        missing = [stage for stage in present if stage not in transitions]
        if missing:
            problems.append(
                {
                    "severity": "error",
                    "message": f"run {run_id} lacks the {', '.join(missing)} stage transition(s) "
                    f"although specs/{feature} has their artefacts (an agent skipped its hooks); "
                    f"{_fix(feature)}",
                    "uri": uri,
                    "extra": {**extra, "missing": missing},
                }
            )
        inferred = [
            s for s in present if s in transitions and transitions[s].get("via") == INFERRED
        ]
        if inferred:
            problems.append(
                {
                    "severity": "warning",
                    "message": f"run {run_id}: the {', '.join(inferred)} stage(s) were recorded "
                    "after the fact, from their artefacts (the agent skipped the hook)",
                    "uri": uri,
                    "extra": {**extra, "inferred": inferred},
                }
            )
    return problems
