"""`log` at scale (docs/DESIGN.md §10). Not a test: run it.

    python bench/bench_log.py [--commits 10000] [--snapshots 1000] [--capsule]

Builds a repository with `git fast-import` (one commit a second; every
commits/snapshots-th changes the policy), writes one snapshot per policy commit
straight into the stores, then times `policy_log` (library) and
`git speckit-policy log --json` (CLI, a fresh process).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_history import bind_snapshots, build_history

from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.queries.history import policy_log
from speckit_git_policy.store import Stores


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--snapshots", type=int, default=1_000)
    parser.add_argument(
        "--capsule", action="store_true", help="store the capsule copy too (slower set-up)"
    )
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="speckit-bench-log-") as temp:
        root = Path(temp) / "repo"
        root.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        if not options.capsule:
            subprocess.run(["git", "config", "speckit.capsule", "false"], cwd=root, check=True)
        start = time.perf_counter()
        shas = build_history(root, options.commits, options.commits // options.snapshots)
        built = time.perf_counter() - start
        start = time.perf_counter()
        bind_snapshots(root, shas)
        bound = time.perf_counter() - start
        print(
            f"set-up: {options.commits} commits in {built:.1f} s, {len(shas)} snapshots in {bound:.1f} s "
            f"(capsule {'on' if options.capsule else 'off'})"
        )

        library = []
        for _ in range(options.runs):
            repo = GitRepo.discover(root)
            start = time.perf_counter()
            entries = policy_log(repo, Stores(repo))
            library.append(time.perf_counter() - start)
        assert len(entries) == len(shas)
        command = []
        for _ in range(options.runs):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "speckit_git_policy", "-C", str(root), "log", "--json"],
                check=True,
                capture_output=True,
            )
            command.append(time.perf_counter() - start)
        limited = []
        for _ in range(options.runs):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "speckit_git_policy", "-C", str(root), "log", "-n", "10"],
                check=True,
                capture_output=True,
            )
            limited.append(time.perf_counter() - start)
        print(
            f"policy_log(), {len(entries)} entries:        median {statistics.median(library) * 1000:7.1f} ms"
        )
        print(
            f"git speckit-policy log --json (process): median {statistics.median(command) * 1000:7.1f} ms"
        )
        print(
            f"git speckit-policy log -n 10 (process):  median {statistics.median(limited) * 1000:7.1f} ms"
        )


if __name__ == "__main__":
    main()
