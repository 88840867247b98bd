"""What our hooks cost a `git commit` (docs/DESIGN.md §10). Not a test: run it.

    python bench/bench_commit.py [--rounds 15] [--base-python /path/to/other/venv/bin/python]

One throw-away repository per case; every round makes one commit in each, the
cases interleaved (bench/harness.py), and reports wall time and the CPU time of
the whole process tree of `git commit` (hooks, git, Python), medians with spread:
  1. no hooks (plain `git commit`);
  2. a bare `python -c pass` post-commit hook, with /usr/bin/python3 (the
     interpreter a user has, site and all) and with this venv's interpreter;
  3. a no-op hook under the pre-commit framework (`repo: local`, `language: system`,
     `entry: true`);
  4. our hooks on a commit that does not touch the policy (also in a repository that
     commits its team settings in .speckitconfig);
  5. our hooks on a commit that changes the policy (validate + capture + capsule).
With --base-python, 4 and 5 again with the hooks installed by that interpreter
(another checkout of the code), in the same rounds.
The bars (issue 16): 5 <= 0.5x 3, and 4 <= 0.7x 2 (CPU and wall).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Variant, load, measure, ratio_text, report  # noqa: E402

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


def commit(root: Path, n: list[int]) -> None:
    n[0] += 1
    subprocess.run(
        ["git", "commit", "-q", "-m", f"change {n[0]}"], cwd=root, check=True, capture_output=True
    )


def touch_other(root: Path, n: int) -> None:
    (root / "notes.txt").write_text(f"note {n}\n")


def touch_policy(root: Path, n: int) -> None:
    text = re.sub(r"(?m)^warn_threshold = .*$", f"warn_threshold = {1 + n / 100:.2f}", POLICY)
    (root / "model_policy.toml").write_text(text)


def install_ours(root: Path, python: str = sys.executable) -> None:
    subprocess.run(
        [python, "-m", "speckit_git_policy", "-C", str(root), "install"],
        check=True,
        capture_output=True,
        # Not from here: `python -m` puts the working directory first on sys.path, and
        # from a checkout the other interpreter would install this checkout's code.
        cwd=root,
    )


def install_ours_with_team_settings(root: Path) -> None:
    """Our hooks in a repository that commits its team settings (.speckitconfig)."""
    (root / ".speckitconfig").write_text("[speckit]\n\tworkspace = team\n\tautoPush = false\n")
    git(root, "add", ".speckitconfig")
    git(root, "commit", "-q", "--no-verify", "-m", "team settings")
    install_ours(root)


def install_bare_python(root: Path, python: str) -> None:
    hook = root / ".git" / "hooks" / "post-commit"
    hook.write_text(f"#!/bin/sh\nexec '{python}' -c pass\n")
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


SYSTEM_PYTHON = "/usr/bin/python3"
BARE = f"bare `{SYSTEM_PYTHON} -c pass` post-commit"
BARE_VENV = "bare `<venv python> -c pass` post-commit"
FRAMEWORK = "pre-commit framework no-op hook"
OURS_OTHER = "ours, non-policy commit"
OURS_POLICY = "ours, policy-changing commit"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--base-python",
        help="also time the hooks as installed by this interpreter (e.g. main's venv)",
    )
    options = parser.parse_args()
    cases: list[tuple[str, Callable[[Path], None] | None, Callable[[Path, int], None]]] = [
        ("no hooks", None, touch_other),
        (BARE, lambda root: install_bare_python(root, SYSTEM_PYTHON), touch_other),
        (BARE_VENV, lambda root: install_bare_python(root, sys.executable), touch_other),
        (FRAMEWORK, install_pre_commit_framework, touch_other),
        (OURS_OTHER, install_ours, touch_other),
        (f"{OURS_OTHER}, .speckitconfig", install_ours_with_team_settings, touch_other),
        (OURS_POLICY, install_ours, touch_policy),
    ]
    if options.base_python:
        base = options.base_python
        cases += [
            (f"base: {OURS_OTHER}", lambda root: install_ours(root, base), touch_other),
            (f"base: {OURS_POLICY}", lambda root: install_ours(root, base), touch_policy),
        ]
    # A pip install compiles bytecode; an editable checkout under PYTHONDONTWRITEBYTECODE
    # would make every hook compile our modules from source. Compile once, as pip does.
    import compileall

    import speckit_git_policy

    compileall.compile_dir(str(Path(speckit_git_policy.__file__).parent), quiet=1)
    if options.base_python:
        # The other checkout too (under PYTHONDONTWRITEBYTECODE it would otherwise
        # compile every module in every hook, and the comparison would flatter us).
        subprocess.run(
            [
                options.base_python,
                "-c",
                "import compileall, os, speckit_git_policy as s; "
                "compileall.compile_dir(os.path.dirname(s.__file__), quiet=1)",
            ],
            check=True,
        )
    with tempfile.TemporaryDirectory(prefix="speckit-bench-") as temp:
        base_dir = Path(temp)
        os.environ.setdefault("PRE_COMMIT_HOME", str(base_dir / "pre-commit-cache"))
        variants = []
        for number, (label, setup, change) in enumerate(cases):
            root = new_repo(base_dir, f"case{number}")
            if setup is not None:
                setup(root)
            counter = [0]

            def prepare(root: Path = root, change=change, counter=counter) -> None:  # noqa: ANN001
                change(root, counter[0] + 1)
                git(root, "add", "-A")

            variants.append(
                Variant(label, lambda root=root, counter=counter: commit(root, counter), prepare)
            )
        # The first round warms caches (and the pre-commit framework's set-up).
        results = measure(variants, options.rounds, warmup=1)

    print(f"`git commit`, {options.rounds} interleaved rounds; {load()}\n")
    print(report(results, baselines=["no hooks"]))
    print()
    print(
        f"policy-changing commit / pre-commit no-op (bar <= 0.5): {ratio_text(results, OURS_POLICY, FRAMEWORK)}"
    )
    print(f"non-policy commit / {BARE} (bar <= 0.7): {ratio_text(results, OURS_OTHER, BARE)}")
    print(f"non-policy commit / {BARE_VENV}: {ratio_text(results, OURS_OTHER, BARE_VENV)}")
    if options.base_python:
        for label in (OURS_OTHER, OURS_POLICY):
            print(f"{label}, this code / base: {ratio_text(results, label, f'base: {label}')}")


if __name__ == "__main__":
    main()
