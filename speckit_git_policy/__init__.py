"""speckit-git-policy: a team's model policy, validated, snapshotted per commit and
stored in a git-ref capsule, so that every agent run can be traced to the policy,
the commit, the author and the line that governed it.

The public API (what an agent runner imports) is re-exported here lazily, so that
importing the package stays cheap on the git hook's hot path.
"""

from __future__ import annotations

# typing is imported for type checkers only: the git hook's hot path must not pay for it.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # Not "capture": that name is the submodule speckit_git_policy.capture.
    "capture_policy": ("speckit_git_policy.capture", "capture"),
    "CaptureResult": ("speckit_git_policy.capture", "CaptureResult"),
    "validate": ("speckit_git_policy.policy.lint", "validate"),
    "GitRepo": ("speckit_git_policy.git.repo", "GitRepo"),
    "SpeckitError": ("speckit_git_policy.errors", "SpeckitError"),
    # Runs (an agent runner holds the Run that start_run returns and appends through it).
    "Run": ("speckit_git_policy.runs.run", "Run"),
    "start_run": ("speckit_git_policy.runs.run", "start_run"),
    "open_run": ("speckit_git_policy.runs.run", "open_run"),
    "stage": ("speckit_git_policy.runs.run", "stage"),
    "checkpoint": ("speckit_git_policy.runs.run", "checkpoint"),
    "append_decision": ("speckit_git_policy.runs.run", "append_decision"),
    "run_events": ("speckit_git_policy.runs.run", "run_events"),
    "list_runs": ("speckit_git_policy.runs.listing", "list_runs"),
    "lint_events": ("speckit_git_policy.runs.lint", "lint_events"),
    "trace_run": ("speckit_git_policy.queries.trace", "trace"),
    "blame_run": ("speckit_git_policy.queries.trace", "blame"),
    # Decisions under the policy in force (docs/DESIGN.md §7).
    "policy_in_force": ("speckit_git_policy.enforce.in_force", "policy_in_force"),
    "route": ("speckit_git_policy.enforce.rules", "route"),
    "budget_tokens": ("speckit_git_policy.enforce.rules", "budget_tokens"),
    "budget_cost": ("speckit_git_policy.enforce.rules", "budget_cost"),
    "gate_reflex_promotion": ("speckit_git_policy.enforce.rules", "gate_reflex_promotion"),
    "gate_local_memory_sunset": ("speckit_git_policy.enforce.rules", "gate_local_memory_sunset"),
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        module_name, attribute = _EXPORTS[name]
        return getattr(importlib.import_module(module_name), attribute)
    raise AttributeError(f"module 'speckit_git_policy' has no attribute {name!r}")


__all__ = ["__version__", *_EXPORTS]
