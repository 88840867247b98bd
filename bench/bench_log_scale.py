"""`log` and `verify` at scale, this code against other checkouts (docs/DESIGN.md §10).
Not a test: run it.

    python bench/bench_log_scale.py --cache DIR [--base-python PY ...]
        [--sizes 100:1000,10000:100000] [--rounds 5] [--only log,log-n10,verify]
        [--verify-rounds 2] [--base-verify-sizes 100:1000]

Fixtures come from bench/scale_fixture.py (built once under DIR, reused; never written:
every variant that writes runs in a copy). Every variant is a fresh process
(`python -m speckit_git_policy -C REPO ...`), this code and each --base-python, interleaved
round by round (bench/harness.py): wall time and CPU time of the process tree, medians
and spread, ratios taken round by round. Both sides' modules are compiled first, as a pip
install does (under PYTHONDONTWRITEBYTECODE every timed process would compile them).

* `log` (`log --json`, every entry) and `log-n10` (`log -n 10`) at each size, in one copy
  of each fixture per python (log keeps its index, ``<git dir>/speckit/log-index``, so the
  timed runs after the untimed warm-up one find it, as every run after the first does).
  Bars (issue 16): `log -n 10` flat (<= 1.2x) from 100 to 10,000 snapshots and <= 0.2 s at
  10,000; `log --json` at 10,000 snapshots <= 0.5 s.
* `verify` (`verify --json`): "cold" in a fresh copy of the fixture each round (no proof,
  run or tree cache: what a clone's first verify costs), "warm" in a copy verified once
  before. The base checkouts are timed only at --base-verify-sizes (the code before issue
  16 took a quarter of an hour at 10,000 snapshots and 100,000 runs). Bar: <= 30 s at
  10,000 snapshots and 100,000 runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Variant, command, load, measure, ratio_text, report  # noqa: E402
from scale_fixture import fixture  # noqa: E402

SETTLE_S = 3.5  # longer than list_cache.SETTLE_NS
LOG_QUERIES = {"log": ["log", "--json"], "log-n10": ["log", "-n", "10"]}


def compile_modules(python: str, cwd: Path) -> None:
    """Compile the package ``python`` imports, as a pip install would."""
    subprocess.run(
        [
            python,
            "-c",
            "import compileall, os, speckit_git_policy as s; "
            "compileall.compile_dir(os.path.dirname(s.__file__), quiet=1)",
        ],
        check=True,
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    )


def copy_of(repo: Path, where: Path) -> Path:
    if where.exists():
        shutil.rmtree(where)
    shutil.copytree(repo, where, symlinks=True)
    return where


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument(
        "--base-python", action="append", default=[], help="another checkout's interpreter"
    )
    parser.add_argument("--sizes", default="100:1000,10000:100000", help="snapshots:runs, ...")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--verify-rounds", type=int, default=2)
    parser.add_argument("--base-verify-sizes", default="100:1000")
    parser.add_argument("--only", default="", help="comma-separated: log,log-n10,verify")
    options = parser.parse_args()
    only = set(filter(None, options.only.split(",")))
    sizes = [tuple(int(n) for n in size.split(":")) for size in options.sizes.split(",")]
    base_verify = {
        tuple(int(n) for n in size.split(":"))
        for size in options.base_verify_sizes.split(",")
        if size
    }
    pythons = {"new": sys.executable}
    for number, python in enumerate(options.base_python):
        pythons[f"base{number + 1}"] = python
    repos = {size: fixture(options.cache.resolve(), *size) for size in sizes}
    temp = tempfile.TemporaryDirectory(prefix="speckit-bench-log-")
    scratch = Path(temp.name)
    # Every process starts in the scratch directory: `python -m` puts the directory it
    # starts in first on sys.path, and in a checkout every python would import its code.
    for python in pythons.values():
        compile_modules(python, scratch)
    print("pythons: " + ", ".join(f"{label} = {python}" for label, python in pythons.items()))

    def cli(python: str, repo: Path, args: list[str]) -> Variant:
        argv = [python, "-m", "speckit_git_policy", "-C", str(repo), *args]
        return Variant("", command(argv, cwd=scratch))

    copies: dict[tuple[str, tuple[int, ...]], Path] = {}
    for name, args in LOG_QUERIES.items():
        if only and name not in only:
            continue
        variants = []
        for size, repo in repos.items():
            for label, python in pythons.items():
                if (label, size) not in copies:
                    copies[label, size] = copy_of(repo, scratch / f"{label}-s{size[0]}")
                variant = cli(python, copies[label, size], args)
                variant.name = f"{label} {' '.join(args)} @ {size[0]} snapshots"
                variants.append(variant)
        # A copy's files are as fresh as the copy, and log keeps nothing made from a file
        # changed in the last seconds (queries/log_memo.py): the copies settle first, as the
        # files of a repository did since its last capture.
        time.sleep(SETTLE_S)
        results = measure(variants, options.rounds)
        print(f"\n== {' '.join(args)}: {options.rounds} interleaved rounds; {load()}")
        print(report(results))
        for label in pythons:
            mine = [v.name for v in variants if v.name.startswith(label + " ")]
            if len(mine) > 1:
                print(
                    f"{label}: largest / smallest fixture: {ratio_text(results, mine[-1], mine[0])}"
                )
        for other in pythons:
            if other == "new":
                continue
            for new in (v.name for v in variants if v.name.startswith("new ")):
                print(f"{new}: new / {other}: {ratio_text(results, new, other + new[3:])}")

    if only and "verify" not in only:
        return
    for size, repo in repos.items():
        variants = []
        for label, python in pythons.items():
            if label != "new" and size not in base_verify:
                continue
            cold = scratch / f"verify-cold-{label}"
            warm = copy_of(repo, scratch / f"verify-warm-{label}")
            cli(python, warm, ["verify", "--json"]).run()
            variants.append(
                Variant(
                    f"{label} verify, cold @ {size[0]} snapshots, {size[1]} runs",
                    cli(python, cold, ["verify", "--json"]).run,
                    prepare=lambda repo=repo, cold=cold: copy_of(repo, cold),
                )
            )
            variants.append(
                Variant(
                    f"{label} verify, warm @ {size[0]} snapshots, {size[1]} runs",
                    cli(python, warm, ["verify", "--json"]).run,
                )
            )
        results = measure(variants, options.verify_rounds, warmup=0)
        print(f"\n== verify --json: {options.verify_rounds} interleaved rounds; {load()}")
        print(report(results, unit=1.0).replace(" ms", "  s"))
        names = [v.name for v in variants]
        for name in names:
            if name.startswith("new "):
                for other in pythons:
                    twin = other + name[3:]
                    if other != "new" and twin in names:
                        print(f"{name}: new / {other}: {ratio_text(results, name, twin)}")


if __name__ == "__main__":
    main()
