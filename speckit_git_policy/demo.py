"""A self-contained walk through the whole story, in a throwaway repository.

Every step is a real command a user could type — ``git`` itself and
``git speckit-policy`` — run as a subprocess so that the installed hooks fire
exactly as they would by hand. The CLI prints the steps; this module only runs them.

This is the one module outside ``git/`` that starts git, on purpose: it plays
the user typing commands in a throwaway repository (their output shown as is,
hooks firing), which is not what the git layer's ``run_git`` is for.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

DEMO_RUN = "demo-run-1"
TEAM_RUN = "demo-run-2"
# The demo's repository and a teammate's clone of it, side by side in one throwaway directory.
REPO_DIR = "repo"
TEAMMATE_DIR = "teammate"


@dataclass(frozen=True)
class Step:
    title: str
    argv: list[str]
    author: str | None = None
    edit: Callable[[Path], None] | None = None
    where: str = REPO_DIR  # the directory it runs in, beside the repository


@dataclass(frozen=True)
class StepResult:
    step: Step
    returncode: int
    output: str


def _replace(path: str, pattern: str, replacement: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        target = root / path
        text = target.read_text()
        new = re.sub(pattern, replacement, text, count=1, flags=re.MULTILINE)
        if new == text:
            raise RuntimeError(f"demo edit of {path} did not apply: {pattern!r}")
        target.write_text(new)

    return edit


TOOL = ["git", "speckit-policy"]

STEPS = [
    Step(
        "Create a repository and adopt speckit-git-policy (example policy + hooks)", [*TOOL, "init"]
    ),
    Step(
        "Commit the policy: the pre-commit hook validates it, post-commit snapshots it",
        ["git", "commit", "-q", "-m", "Adopt model policy"],
        author="Ada Architect <ada@example.com>",
        edit=lambda root: _git_add_all(root),
    ),
    Step("List snapshots (one per distinct policy content)", [*TOOL, "list"]),
    Step(
        "Raise the plan budget and commit it as another author",
        ["git", "commit", "-q", "-am", "Raise the plan token budget"],
        author="Bo Budget <bo@example.com>",
        edit=_replace("model_policy.toml", r"^plan = \d+", "plan = 12000"),
    ),
    Step(
        "Start an agent run: it is bound to the snapshot in force",
        [*TOOL, "run", "start", "--run-id", DEMO_RUN],
    ),
    Step(
        "Mid-run, someone switches capture to full_io and commits",
        ["git", "commit", "-q", "-am", "Capture model outputs too"],
        author="Cy Compliance <cy@example.com>",
        edit=_replace("model_policy.toml", r'^mode = "prompts_only"', 'mode = "full_io"'),
    ),
    Step(
        "The run crosses a stage boundary: the changed policy is snapshotted first",
        [*TOOL, "run", "stage", DEMO_RUN, "plan"],
    ),
    Step("The policy's history, like git log", [*TOOL, "log"]),
    Step(
        "Trace the run to the snapshots, commits and authors that governed it",
        [*TOOL, "trace", DEMO_RUN],
    ),
    Step(
        "Blame one key: which commit, author and line set it",
        [*TOOL, "blame", DEMO_RUN, "budgets.tokens.plan"],
    ),
    Step("Check both copies (working tree and capsule refs) and the event log", [*TOOL, "verify"]),
    # A teammate joins: one command after the clone, then plain git.
    Step("A teammate clones the repository", ["git", "clone", "-q", ".", f"../{TEAMMATE_DIR}"]),
    Step(
        "One command sets the clone up: hooks, the capsule fetched and merged, snapshots restored",
        [*TOOL, "install"],
        where=TEAMMATE_DIR,
    ),
    Step("The teammate's clone verifies", [*TOOL, "verify"], where=TEAMMATE_DIR),
    Step(
        "Back in the first repository, another agent run starts",
        [*TOOL, "run", "start", "--run-id", TEAM_RUN],
    ),
    Step(
        "The teammate's plain git pull brings the capsule along",
        ["git", "pull", "-q"],
        where=TEAMMATE_DIR,
    ),
    Step(
        "The next command merges it: the teammate sees the new run",
        [*TOOL, "run", "list"],
        where=TEAMMATE_DIR,
    ),
]


def _git_add_all(root: Path) -> None:
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, capture_output=True)


def _environment(author: str | None) -> dict[str, str]:
    env = dict(os.environ)
    # The console script sits beside the interpreter that runs us; make sure git finds it.
    scripts = sysconfig.get_path("scripts")
    env["PATH"] = os.pathsep.join([scripts, os.path.dirname(sys.executable), env.get("PATH", "")])
    env.setdefault("GIT_COMMITTER_NAME", "Demo Committer")
    env.setdefault("GIT_COMMITTER_EMAIL", "demo@example.com")
    if author:
        name, _, email = author.partition(" <")
        env["GIT_AUTHOR_NAME"] = name
        env["GIT_AUTHOR_EMAIL"] = email.rstrip(">")
    env.pop("GIT_DIR", None)
    env.pop("GIT_INDEX_FILE", None)
    env["PAGER"] = "cat"
    return env


def make_repo(parent: Path | None = None) -> Path:
    """The demo's repository, in a new throwaway directory (its parent, which the
    teammate's clone shares)."""
    root = Path(tempfile.mkdtemp(prefix="speckit-demo-", dir=parent)) / REPO_DIR
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, capture_output=True)
    for key, value in (
        ("user.name", "Demo User"),
        ("user.email", "demo@example.com"),
        ("commit.gpgsign", "false"),
    ):
        subprocess.run(["git", "-C", str(root), "config", key, value], check=True)
    return root


def run_demo(root: Path) -> Iterator[StepResult]:
    """Run every step in ``root``; stop at the first that fails."""
    for step in STEPS:
        if step.edit is not None:
            step.edit(root)
        result = subprocess.run(
            step.argv,
            cwd=root.parent / step.where,
            env=_environment(step.author),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        yield StepResult(step, result.returncode, result.stdout)
        if result.returncode != 0:
            return


_NEXT = [
    ("git speckit-policy show current", "the snapshot in force, as stored"),
    ("git speckit-policy diff <id-a> <id-b>", "key-level diff of two snapshots"),
    (f"git speckit-policy run show {DEMO_RUN}", "the run's events"),
    ("git speckit-policy doctor", "prove the set-up (hooks, PATH, refspecs)"),
    ("git for-each-ref refs/speckit", "the capsule: plain git refs"),
    ("git speckit-policy help log", "any command's help; git help speckit-policy: the manual"),
]
NEXT_STEPS = (
    "What to try next, in {root}:\n"
    + "".join(f"  {command:<40} {what}\n" for command, what in _NEXT)
    + "In your own repository: git speckit-policy init, then commit as usual (with a policy\n"
    + "history already there, init captures HEAD; git speckit-policy backfill the commits before).\n"
)
