"""What our hooks cost a `git commit` (docs/DESIGN.md §10). Not a test: run it.

    python bench/bench_commit.py [--runs 15]

Median wall time of `git commit` in throw-away repositories with:
  1. no hooks;
  2. a bare `python -c pass` post-commit hook;
  3. our hooks, on a commit that does not touch the policy (also in a repository that
     commits its team settings in .speckitconfig);
  4. a no-op hook under the pre-commit framework (`repo: local`, `language: system`, `entry: true`);
  5. our hooks, on a commit that changes the policy (validate + capture + capsule).
Targets: 3 <= 2, and 5 < 4.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
POLICY = (REPO_ROOT / "model_policy.toml").read_text()
DOC = (REPO_ROOT / "docs" / "MODEL-POLICY.md").read_text()


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def new_repo(base: Path, name: str) -> Path:
    root = base / name
    root.mkdir()
    git(root, "init", "-q")
    (root / "docs").mkdir()
    (root / "model_policy.toml").write_text(POLICY)
    (root / "docs" / "MODEL-POLICY.md").write_text(DOC)
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", "policy")
    return root


def timed_commits(root: Path, runs: int, change: Callable[[Path, int], None]) -> list[float]:
    times = []
    for n in range(runs + 1):
        change(root, n)
        git(root, "add", "-A")
        start = time.perf_counter()
        subprocess.run(
            ["git", "commit", "-q", "-m", f"change {n}"], cwd=root, check=True, capture_output=True
        )
        elapsed = time.perf_counter() - start
        if n:  # the first commit warms caches (and the pre-commit framework's set-up)
            times.append(elapsed)
    return times


def touch_other(root: Path, n: int) -> None:
    (root / "notes.txt").write_text(f"note {n}\n")


def touch_policy(root: Path, n: int) -> None:
    text = re.sub(r"(?m)^warn_threshold = .*$", f"warn_threshold = {1 + n / 100:.2f}", POLICY)
    (root / "model_policy.toml").write_text(text)


def install_ours(root: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "speckit_git_policy", "-C", str(root), "install"],
        check=True,
        capture_output=True,
    )


def install_ours_with_team_settings(root: Path) -> None:
    """Our hooks in a repository that commits its team settings (.speckitconfig)."""
    (root / ".speckitconfig").write_text("[speckit]\n\tworkspace = team\n\tautoPush = false\n")
    git(root, "add", ".speckitconfig")
    git(root, "commit", "-q", "--no-verify", "-m", "team settings")
    install_ours(root)


def install_bare_python(root: Path) -> None:
    hook = root / ".git" / "hooks" / "post-commit"
    hook.write_text(f"#!/bin/sh\nexec '{sys.executable}' -c pass\n")
    hook.chmod(0o755)


def install_pre_commit_framework(root: Path) -> None:
    (root / ".pre-commit-config.yaml").write_text(
        "repos:\n- repo: local\n  hooks:\n  - id: noop\n    name: noop\n"
        "    entry: 'true'\n    language: system\n    always_run: true\n    pass_filenames: false\n"
    )
    git(root, "add", ".pre-commit-config.yaml")
    git(root, "commit", "-q", "--no-verify", "-m", "pre-commit config")
    framework = shutil.which("pre-commit")
    if framework is None:
        raise SystemExit("pre-commit is not installed: pip install 'speckit-git-policy[dev]'")
    subprocess.run(
        [framework, "install", "-t", "pre-commit"], cwd=root, check=True, capture_output=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    options = parser.parse_args()
    cases: list[tuple[str, Callable[[Path], None] | None, Callable[[Path, int], None]]] = [
        ("no hooks", None, touch_other),
        ("bare `python -c pass` post-commit", install_bare_python, touch_other),
        ("speckit hooks, non-policy commit", install_ours, touch_other),
        (
            "speckit hooks, non-policy commit, .speckitconfig",
            install_ours_with_team_settings,
            touch_other,
        ),
        ("pre-commit framework no-op hook", install_pre_commit_framework, touch_other),
        ("speckit hooks, policy-changing commit", install_ours, touch_policy),
    ]
    # A pip install compiles bytecode; an editable checkout under PYTHONDONTWRITEBYTECODE
    # would make every hook compile our modules from source. Compile once, as pip does.
    import compileall

    import speckit_git_policy

    compileall.compile_dir(str(Path(speckit_git_policy.__file__).parent), quiet=1)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="speckit-bench-") as temp:
        base = Path(temp)
        os.environ.setdefault("PRE_COMMIT_HOME", str(base / "pre-commit-cache"))
        for n, (label, setup, change) in enumerate(cases):
            root = new_repo(base, f"case{n}")
            if setup is not None:
                setup(root)
            results[label] = statistics.median(timed_commits(root, options.runs, change))

    bare = results["bare `python -c pass` post-commit"]
    framework = results["pre-commit framework no-op hook"]
    width = max(map(len, results))
    print(f"median wall time of `git commit`, {options.runs} runs each\n")
    print(f"{'case':<{width}}  {'ms':>7}  {'/bare py':>8}  {'/pre-commit':>11}")
    for label, seconds in results.items():
        print(
            f"{label:<{width}}  {seconds * 1000:7.1f}  {seconds / bare:8.2f}  {seconds / framework:11.2f}"
        )
    ours_other = results["speckit hooks, non-policy commit"]
    ours_policy = results["speckit hooks, policy-changing commit"]
    print()
    print(
        f"non-policy commit with our hooks <= bare python hook: "
        f"{'yes' if ours_other <= bare else 'NO'} ({ours_other * 1000:.1f} vs {bare * 1000:.1f} ms)"
    )
    print(
        f"policy-changing commit < pre-commit framework no-op:  "
        f"{'yes' if ours_policy < framework else 'NO'} ({ours_policy * 1000:.1f} vs {framework * 1000:.1f} ms)"
    )


if __name__ == "__main__":
    main()
