"""Scale fixtures for the query benchmarks: a repository with N snapshots and M runs.

    python bench/scale_fixture.py --cache DIR --snapshots 10000 --runs 100000

prints the path of the repository, building it once and reusing it afterwards
(``DIR/s<N>-r<M>/repo``; a snapshot-only fixture ``s<N>-r0`` is kept too and
copied for every number of runs built on it).

How it is built, and why it is what the real code would have written:

* commits: ``git fast-import``, one commit a second, each changing
  ``model_policy.toml`` (a new ``warn_threshold``), the first adding its doc;
* snapshots and bindings: ``backfill`` (the library's, as ``git speckit-policy
  backfill`` runs it): one snapshot per commit, both copies, bound to it;
* runs: one run started through the library (``Run.start``, ``stage``,
  ``checkpoint``: 3 events, under the snapshot in force at HEAD) is the template;
  every other run gets the template's events with its own run id, event ids and
  timestamps, re-canonicalized, written with the capsule's own object code in one
  pack per run shard at the paths ``store/capsule/layout.py`` gives, then one
  capsule commit and compare-and-swap per shard. Appends one by one would take an
  hour at 100,000 runs.

``check(repo)`` (``--check``) runs ``verify`` and compares ``list``, ``log`` and
``run list`` with what the real commands say (tests/test_scale_fixture.py does it
on a small fixture).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
POLICY = (REPO_ROOT / "model_policy.toml").read_text()
DOC = (REPO_ROOT / "docs" / "MODEL-POLICY.md").read_bytes()
START = 1_700_000_000  # the first commit's time (2023-11-14)


def git(cwd: Path, *args: str, input_bytes: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", *args], cwd=cwd, input=input_bytes, check=True, capture_output=True
    ).stdout


def policy_text(n: int) -> str:
    return re.sub(r"(?m)^warn_threshold = .*$", f"warn_threshold = {n / 1000:.3f}", POLICY)


def build_commits(root: Path, count: int) -> None:
    """``count`` commits, each changing the policy, on ``main`` (checked out)."""
    stream: list[bytes] = []

    def blob(data: bytes) -> None:
        stream.append(b"data %d\n" % len(data) + data + b"\n")

    for n in range(count):
        stream.append(b"commit refs/heads/main\nmark :%d\n" % (n + 1))
        stream.append(b"committer Ada Author <ada@example.com> %d +0000\n" % (START + n))
        blob(f"policy change {n}".encode())
        stream.append(b"M 100644 inline model_policy.toml\n")
        blob(policy_text(n).encode())
        if n == 0:
            stream.append(b"M 100644 inline docs/MODEL-POLICY.md\n")
            blob(DOC)
    stream.append(b"checkpoint\n")
    git(root, "fast-import", "--quiet", input_bytes=b"".join(stream))
    git(root, "symbolic-ref", "HEAD", "refs/heads/main")
    git(root, "reset", "-q", "--hard", "main")


def build_snapshots(root: Path, count: int) -> None:
    from speckit_git_policy.adoption import backfill
    from speckit_git_policy.git.repo import GitRepo

    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    git(root, "config", "user.name", "Ada Author")
    git(root, "config", "user.email", "ada@example.com")
    build_commits(root, count)
    result = backfill(GitRepo.discover(root))
    if len(result.commits) != count:
        raise SystemExit(f"backfill captured {len(result.commits)} commits, not {count}")


def build_runs(root: Path, count: int) -> None:
    """``count`` runs of 3 events each; the first through the library, the rest copies."""
    from speckit_git_policy import clock
    from speckit_git_policy.canonical import canonical_bytes, parse_json_bytes
    from speckit_git_policy.git.repo import GitRepo
    from speckit_git_policy.runs.run import start_run
    from speckit_git_policy.store import Stores
    from speckit_git_policy.store.capsule import layout
    from speckit_git_policy.store.capsule import runlog as run_log
    from speckit_git_policy.store.capsule.objects import TREE_MODE, ref_bytes

    repo = GitRepo.discover(root)
    template_id = "run-template-0"
    run = start_run(repo, template_id)
    run.stage("plan")
    run.checkpoint("tests pass")
    capsule = Stores(repo).capsule
    assert capsule is not None
    template = [parse_json_bytes(data) for data in capsule.run_events(template_id)]
    base = clock.parse(template[0]["timestamp"]).timestamp()

    by_shard: dict[str, list[str]] = {}
    for n in range(1, count):
        run_id = f"run-{n:07d}-{hashlib.sha256(str(n).encode()).hexdigest()[:8]}"
        by_shard.setdefault(layout.run_shard(run_id), []).append(run_id)
    io = capsule.io
    for shard, run_ids in sorted(by_shard.items()):
        ref = f"{layout.runs_prefix(capsule.workspace)}/{shard}"

        def compute(old: bytes | None, run_ids: list[str] = run_ids) -> bytes:
            io.start_batch()
            try:
                root_tree = capsule._tree_of(old)
                tree: dict[str, dict[str, dict[str, tuple[int, bytes]]]] = {}
                for name, (mode, object_id) in io.entries(root_tree).items():
                    if mode == TREE_MODE:
                        level = tree.setdefault(name, {})
                        for sub, (sub_mode, sub_id) in io.entries(object_id).items():
                            if sub_mode == TREE_MODE:  # not the summary: written again below
                                level[sub] = dict(io.entries(sub_id))
                for run_id in run_ids:
                    number = int(run_id.split("-")[1])
                    blobs = []
                    for seq, event in enumerate(template):
                        copy = dict(event)
                        copy["run_id"] = run_id
                        copy["event_id"] = str(uuid.UUID(int=number * 4 + seq, version=4))
                        # One run a second, its events a millisecond apart, as from a runner.
                        stamp = base - count + number + seq / 1000
                        copy["timestamp"] = clock._format(int(stamp * 1_000_000))
                        blobs.append(io.write_blob(canonical_bytes(copy)))
                    first, second, rest = layout.run_path(run_id).split("/")
                    tree.setdefault(first, {}).setdefault(second, {})[rest] = (
                        TREE_MODE,
                        run_log.write_run_tree(io, blobs),
                    )
                top = {}
                for first, seconds in tree.items():
                    level = {
                        second: (TREE_MODE, io.write_tree(runs)) for second, runs in seconds.items()
                    }
                    top[first] = (TREE_MODE, io.write_tree(level))
                new = capsule._commit(io.write_tree(top), [old], f"add {len(run_ids)} run(s)")
                io.finish_batch()
                return new
            finally:
                io.drop_batch()

        capsule.refs.update(ref_bytes(ref), compute)
    add_summaries(root)


def add_summaries(root: Path) -> None:
    """Each run directory's ``summary.json``, as an append that found it stale writes
    it (``runsummary``): one capsule commit per shard."""
    from speckit_git_policy.git.repo import GitRepo
    from speckit_git_policy.store import Stores
    from speckit_git_policy.store.capsule import layout, runsummary
    from speckit_git_policy.store.capsule.objects import BLOB_MODE, TREE_MODE, ref_bytes

    capsule = Stores(GitRepo.discover(root)).capsule
    assert capsule is not None
    io = capsule.io
    prefix = layout.runs_prefix(capsule.workspace)
    for shard in sorted(capsule.refs.subkeys(ref_bytes(prefix))):

        def compute(old: bytes | None) -> bytes | None:
            io.start_batch()
            try:
                top = io.entries(capsule._tree_of(old))
                for name, (mode, directory) in list(top.items()):
                    if mode != TREE_MODE or not layout.is_run_bucket(name):
                        continue
                    summary = {
                        "covers": runsummary.covers(io, directory),
                        "runs": runsummary._rebuilt(io, directory, {}),
                    }
                    entries = io.entries(directory)
                    entries[runsummary.SUMMARY_NAME] = (
                        BLOB_MODE,
                        io.write_blob(runsummary.encode(summary)),
                    )
                    top[name] = (TREE_MODE, io.write_tree(entries))
                new = capsule._commit(io.write_tree(top), [old], "run summaries")
                io.finish_batch()
                return new
            finally:
                io.drop_batch()

        capsule.refs.update(ref_bytes(f"{prefix}/{shard.decode()}"), compute)


def fixture(cache: Path, snapshots: int, runs: int, *, log: bool = True) -> Path:
    """The repository with ``snapshots`` snapshots and ``runs`` runs, built if needed."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"s{snapshots}-r{runs}"
    if (target / "ready").exists():
        if runs and not (target / "summarized").exists():  # built before run summaries
            add_summaries(target / "repo")
            git(target / "repo", "repack", "-adq")
            (target / "summarized").write_text("")
        return target / "repo"
    base = cache / f"s{snapshots}-r0"
    if not (base / "ready").exists():
        started = time.perf_counter()
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir()
        build_snapshots(base / "repo", snapshots)
        git(base / "repo", "gc", "-q")
        (base / "ready").write_text("")
        if log:
            print(
                f"built {snapshots} snapshots in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
    if runs == 0:
        return base / "repo"
    started = time.perf_counter()
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    shutil.copytree(base / "repo", target / "repo", symlinks=True)
    build_runs(target / "repo", runs)
    git(target / "repo", "repack", "-adq")
    (target / "summarized").write_text("")
    (target / "ready").write_text("")
    if log:
        print(f"built {runs} runs in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return target / "repo"


def check(repo: Path, python: str = sys.executable) -> list[str]:
    """What the real commands say about the fixture, as problems (empty: all agree)."""
    import json

    problems = []

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python, "-m", "speckit_git_policy", "-C", str(repo), *args],
            capture_output=True,
            text=True,
        )

    verify = cli("verify", "--json")
    if verify.returncode != 0:
        problems.append(f"verify exits {verify.returncode}: {verify.stdout[-500:]}{verify.stderr}")
    listed = json.loads(cli("list", "--json").stdout)
    logged = json.loads(cli("log", "--json").stdout)
    if sorted(r["commit"] for r in listed) != sorted(e["commit"] for e in logged):
        problems.append("list and log name different commits")
    commits = git(repo, "rev-list", "HEAD").decode().split()
    if sorted(commits) != sorted(r["commit"] for r in listed):
        problems.append("the snapshots are not bound one to each commit")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--snapshots", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="verify, list, log agree")
    options = parser.parse_args()
    repo = fixture(options.cache.resolve(), options.snapshots, options.runs)
    if options.check:
        problems = check(repo)
        for problem in problems:
            print(f"problem: {problem}", file=sys.stderr)
        if problems:
            raise SystemExit(1)
    print(os.fspath(repo))


if __name__ == "__main__":
    main()
