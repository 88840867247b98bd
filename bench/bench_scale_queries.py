"""Queries and CLI start-up at scale, this code against another checkout (docs/DESIGN.md §10).
Not a test: run it.

    python bench/bench_scale_queries.py --cache DIR [--base-python /path/to/base/venv/bin/python]
        [--sizes 100:1000,10000:100000] [--rounds 7] [--only list,run-list,...]

Fixtures come from bench/scale_fixture.py (built once under DIR, then reused). Every
variant is a fresh process (`python -m speckit_git_policy -C REPO ...`, as a user
runs the command), this code and, with --base-python, the other checkout's, interleaved
round by round with `python -c pass` (the same interpreter) as the start-up baseline:
wall time and CPU time of the process tree, medians and spread, and ratios taken
round by round.

Queries: `list --json`, `run list --json`, `blame <run>` (at each size), and start-up:
`-h`, `current`, `list --json`, `run checkpoint` (in the smallest fixture).
The bars (issue 16): `list` at 10,000 snapshots <= 0.5 s, `run list` at 100,000 runs
<= 2 s, `blame` flat in the number of snapshots (next to it, `git blame` of the
policy file, which walks the history back to each line's commit); `-h`, `current`, `list --json`,
`run checkpoint` <= 3x `python -c pass`.

Everything runs in copies of the fixtures: the listings keep what they read
(docs/DESIGN.md §10: `list` its rows, `run list` each run directory's digests, `current`
the content hash of HEAD's sources), and "(cold)" variants remove that before each
run, so that both figures are there. The copies' files are left to settle first
(a file changed in the last 3 s is never kept).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    Variant,
    command,
    compile_package,
    load,
    measure,
    ratio_text,
    report,
)
from scale_fixture import fixture  # noqa: E402

QUERIES = {
    "list": ["list", "--json"],
    "run-list": ["run", "list", "--json"],
    "blame": ["blame", "run-template-0"],
}
STARTUP = {
    "-h": ["-h"],
    "current": ["current"],
    "list --json": ["list", "--json"],
    "run checkpoint": ["run", "checkpoint", "run-template-0", "--label", "bench"],
}


# What each listing keeps between runs, under the repository's .git (docs/DESIGN.md §10).
KEPT = {
    "list": ["speckit/list-cache.json"],
    "list --json": ["speckit/list-cache.json"],
    "run-list": ["speckit/run-list"],
    "current": ["speckit/compiled"],
}
SETTLE = 3.5  # list_cache.SETTLE_NS, and a little


def forget(repo: Path, kept: list[str]) -> Callable[[], None]:
    """A ``prepare`` that removes what a listing kept (its next run reads everything)."""

    def remove() -> None:
        for name in kept:
            path = repo / ".git" / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    return remove


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--base-python", help="the other checkout's interpreter (e.g. main's)")
    parser.add_argument(
        "--sizes", default="100:1000,10000:100000", help="snapshots:runs, comma-separated"
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--only", default="", help="comma-separated: list,run-list,blame,startup")
    options = parser.parse_args()
    only = set(filter(None, options.only.split(",")))
    sizes = [tuple(int(n) for n in size.split(":")) for size in options.sizes.split(",")]
    pythons = {"new": sys.executable}
    if options.base_python:
        pythons["base"] = options.base_python
    for python in pythons.values():
        compile_package(python)
    temp = tempfile.TemporaryDirectory(prefix="speckit-bench-queries-")
    repos = {}
    for size in sizes:
        # The listings write what they keep: time them in copies, never in the cache.
        repos[size] = Path(temp.name) / f"s{size[0]}-r{size[1]}"
        shutil.copytree(fixture(options.cache.resolve(), *size), repos[size], symlinks=True)
    time.sleep(SETTLE)

    # Every process starts outside any checkout: `python -m` puts its working directory
    # first on sys.path, so started in one, the other interpreter would run that code.
    neutral = temp.name

    def cli(python: str, repo: Path, args: list[str]) -> Variant:
        argv = [python, "-m", "speckit_git_policy", "-C", str(repo), *args]
        return Variant("", command(argv, cwd=neutral))

    for name, args in QUERIES.items():
        if only and name not in only:
            continue
        variants = []
        for (snapshots, runs), repo in repos.items():
            for label, python in pythons.items():
                where = f"{' '.join(args)} @ {snapshots} snapshots, {runs} runs"
                variant = cli(python, repo, args)
                variant.name = f"{label} {where}"
                variants.append(variant)
                if label == "new" and name in KEPT:
                    cold = cli(python, repo, args)
                    cold.name = f"new (cold) {where}"
                    cold.prepare = forget(repo, KEPT[name])
                    variants.append(cold)
            if name == "blame":  # what git's own blame of the policy file costs here
                argv = ["git", "-C", str(repo), "blame", "--porcelain", "HEAD", "--"]
                variants.append(
                    Variant(
                        f"git blame model_policy.toml @ {snapshots} snapshots, {runs} runs",
                        command([*argv, "model_policy.toml"], cwd=neutral),
                    )
                )
        results = measure(variants, options.rounds, options.warmup)
        print(f"\n== {' '.join(args)}: {options.rounds} interleaved rounds; {load()}")
        print(report(results))
        if len(sizes) > 1:
            for label in [*pythons, "git"]:
                mine = [v.name for v in variants if v.name.startswith(label + " ")]
                if not mine:
                    continue
                small, large = mine[0], mine[-1]
                print(f"{label}: largest / smallest fixture: {ratio_text(results, large, small)}")
        if "base" in pythons:
            for new in (v.name for v in variants if v.name.startswith("new ")):
                base = "base" + new.removeprefix("new (cold)").removeprefix("new")
                print(f"{new}: new / base: {ratio_text(results, new, base)}")

    if only and "startup" not in only:
        return
    repo = repos[sizes[0]]
    variants = []
    for label, python in pythons.items():
        bare = Variant(f"{label} python -c pass", command([python, "-c", "pass"], cwd=neutral))
        variants.append(bare)
        for name, args in STARTUP.items():
            variant = cli(python, repo, args)
            variant.name = f"{label} {name}"
            variants.append(variant)
            if label == "new" and name in KEPT:
                cold = cli(python, repo, args)
                cold.name = f"new {name} (cold)"
                cold.prepare = forget(repo, KEPT[name])
                variants.append(cold)
    results = measure(variants, options.rounds * 2)
    print(f"\n== start-up, {sizes[0][0]} snapshots: {options.rounds * 2} rounds; {load()}")
    print(report(results))
    for label in pythons:
        print(f"\nratio to `{label} python -c pass` (bar <= 3):")
        for name in STARTUP:
            names = [name] + ([f"{name} (cold)"] if label == "new" and name in KEPT else [])
            for shown in names:
                ratio = ratio_text(results, f"{label} {shown}", f"{label} python -c pass")
                print(f"  {shown:<22} {ratio}")
    if "base" in pythons:
        print("\nnew / base:")
        for name in STARTUP:
            print(f"  {name:<15} {ratio_text(results, f'new {name}', f'base {name}')}")


if __name__ == "__main__":
    main()
