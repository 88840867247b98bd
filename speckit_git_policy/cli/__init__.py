"""``git speckit-policy``: a thin click layer over the library.

Errors are turned into one line on stderr and an exit code in one place
(``cli/exits.py``; docs/DESIGN.md §9: 1 = a check failed or a decision was denied,
2 = bad usage or input, 3 = the tool's own failure: a bug, or the system refused a write).

This module imports no click: ``main`` first offers the command line to ``fast.py``,
which runs the few commands scripts call in loops (``current``, ``list --json``,
``run checkpoint``) in their plainest forms without loading click (as much as a Python
start-up again); anything else goes to the click group (``group.py``), the commands'
one definition, whose ``cli`` is importable from here as before.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Every command: name -> (module of this package, attribute, first paragraph of its
# help). The group imports a command's module only when that command runs (or its
# help is asked for), so a command pays for its own imports alone; -h lists the
# commands from this table. tests/test_perf_readers.py keeps it equal to the commands.
COMMAND_TABLE: dict[str, tuple[str, str, str]] = {
    "validate": (
        "policy_commands",
        "validate",
        "Doc and policy lint of the sources: both exist, the policy follows the rules.",
    ),
    "capture": (
        "policy_commands",
        "capture",
        "Snapshot the policy now (from the work tree, or from --commit).",
    ),
    "list": ("policy_commands", "list_command", "Snapshots, newest first."),
    "show": ("policy_commands", "show", "One snapshot."),
    "current": (
        "policy_commands",
        "current",
        "The snapshot of the policy committed at HEAD, and drift.",
    ),
    "diff": ("policy_commands", "diff", "Key-level diff of two snapshots."),
    "schema": (
        "policy_commands",
        "schema",
        "JSON Schema (draft 2020-12) of model_policy.toml, for editors.",
    ),
    "demo": (
        "demo_commands",
        "demo",
        "Walk through init, commit, change, run, stage boundary, log, trace, blame, and a teammate's clone joining.",
    ),
    "verify": (
        "capsule_commands",
        "verify",
        "Hashes, parity of both copies, event lint, missed captures; each snapshot proven against its commits, the capsule's structure, seals, and what remotes had refused.",
    ),
    "prune": (
        "capsule_commands",
        "prune",
        "Remove filesystem snapshots by count or age (never one a run refers to).",
    ),
    "resolve": (
        "capsule_commands",
        "resolve",
        "Map a mv2:// URI to the capsule ref that holds it and the object id.",
    ),
    "push": (
        "capsule_commands",
        "push",
        "Push the capsule (refs/speckit/*) to a remote, a URL or a bundle file; a ref the remote rejects as a non-fast-forward is pulled, merged and pushed again.",
    ),
    "pull": (
        "capsule_commands",
        "pull",
        "Fetch a remote's capsule (a remote, a URL, a path or a bundle file) and merge it into this one: a union where local entries win; what is refused is listed.",
    ),
    "route": (
        "enforce_commands",
        "route",
        "Ordered candidate models for ROLE, and the reflex route when its gate passed.",
    ),
    "budget": ("enforce_commands", "budget", "Token and cost budgets."),
    "gate": ("enforce_commands", "gate", "Evaluate a promotion gate against measured samples."),
    "run": ("run_commands", "run", "Agent runs: events bound to the policy in force."),
    "trace": ("run_commands", "trace", "Run -> snapshots -> commits (author, date, subject)."),
    "blame": (
        "run_commands",
        "blame",
        "Each policy key in force for the run: value, commit, author, date, line.",
    ),
    "init": (
        "hook_commands",
        "init",
        "Write example policy sources when missing, then install the hooks.",
    ),
    "install": (
        "hook_commands",
        "install",
        "Install the git hooks (keeps and chains hooks already there) and set up the capsule: each remote's tracking refspec, one fetch, the merge, .speckit/policies/ restored; in a repository whose HEAD already carries a valid policy, capture it (adoption).",
    ),
    "uninstall": (
        "hook_commands",
        "uninstall",
        "Remove the git hooks and restore the ones they replaced.",
    ),
    "doctor": (
        "hook_commands",
        "doctor",
        "Prove the set-up works: hooks, interpreter, tool, capsule refspecs, missed captures, settings (and where each comes from).",
    ),
    "log": (
        "hook_commands",
        "log",
        "History of the policy in REV's history (default HEAD), newest first in git's order: one entry per commit that changed it and carries a snapshot.",
    ),
    "backfill": (
        "hook_commands",
        "backfill",
        "Capture every commit of HEAD's history that changed the policy, oldest first.",
    ),
    "report": (
        "evidence_commands",
        "report",
        "The audit report: policy timeline, runs, decisions, usage and verify's state.",
    ),
    "attest": (
        "evidence_commands",
        "attest",
        "Sign an in-toto statement of RUN (its log and snapshots), or check one with --verify.",
    ),
    "speckit": (
        "speckit_commands",
        "speckit",
        "GitHub Spec Kit: bind each feature's run to the policy.",
    ),
    "help": (
        "help_commands",
        "help_command",
        "Show the manual, or the help of COMMAND (like COMMAND --help).",
    ),
}


def main() -> None:
    from speckit_git_policy.cli.fast import run

    code = run(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from speckit_git_policy.cli.group import cli

    cli.main(args=sys.argv[1:])


def __getattr__(name: str) -> Any:
    if name in ("cli", "LazyCommands", "SpeckitGroup", "SpeckitContext"):
        from speckit_git_policy.cli import group

        return getattr(group, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
