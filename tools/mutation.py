#!/usr/bin/env python3
"""Mutation testing of the modules whose silent bugs would hurt most.

Two kinds of mutants, one score per module:

* **mutmut 3** switches mutants inside functions (operators, comparisons, constants,
  strings, arguments). It cannot change a module-level rule, which is evaluated once
  at import: a regex pattern, a limit such as ``WORKSPACE_MAX``, a tuple of allowed
  names.
* **Hand-made mutants** cover those. They are found in the module's AST at run time
  (never by line number: other people edit these files), so a new constant or pattern
  gets its mutants without touching this script:

  - a module-level number: ``+ 1`` and ``- 1`` (``JSON_SAFE_INT = 2**53 - 1``,
    ``RUN_ID_MAX``, ``WORKSPACE_MAX``...);
  - a module-level string: changed (``SCHEMA_VERSION``, event type names);
  - a module-level tuple, list, set or dict of names: each element dropped in turn;
  - every regex literal given to ``re.compile/fullmatch/match/search`` (module level or
    inside a function): each character class also admitting ``.``, then ``/``, and
    losing its last item; each literal character becoming ``.`` (any character, e.g.
    the uuid4 version digit); each quantifier widened or loosened (``{12}`` to
    ``{12,13}`` and ``{11,12}``, ``+`` to ``*``, ``?`` dropped); anchors dropped.

  Each hand-made mutant is written into a private copy of the checkout and the
  module's tests run in a fresh interpreter with ``PYTHONPATH`` on that copy, so the
  mutant is live in subprocesses too (the installed hooks, the CLI run as a process).
  mutmut's mutants are live in the test process only (mutmut switches them through
  trampolines in its own forked workers).

Tests are not the whole suite: each module is mapped to the test files that exercise
it (``TESTS`` below, plus any test file that imports the module by name), run with
``-x -q -p no:cacheprovider``, the module's own unit tests first so that most mutants
die in seconds.

How to run (from the repository root, in a virtualenv)::

    pip install -e '.[test,mutation]'
    python tools/mutation.py --module ids                 # one module: ids.py
    python tools/mutation.py --module enforce --jobs 2    # every module of enforce/
    python tools/mutation.py                              # all of them: hours
    python tools/mutation.py --module ids --no-mutmut     # hand-made mutants only
    python tools/mutation.py --module runs --max-mutants 40 --timeout 300
    python tools/mutation.py --list                       # modules, tests, hand-made mutants

``--module`` takes a file name without ``.py`` (``ids``, ``merge``), a directory
(``enforce``, ``runs``) or a path (``speckit_git_policy/policy/checker.py``), and may
be repeated. ``--max-mutants N`` tests at most N mutmut mutants and N hand-made ones
per module (spread over the module, in a fixed order). ``--timeout`` bounds one
hand-made mutant's test run (a mutant that hangs the tests counts as killed, as in
mutmut). ``--jobs`` is how many mutants run at once (default 1: the machine is
shared). ``--tests`` replaces the mapped test files. ``--keep`` leaves the sandboxes
(printed) for ``mutmut show`` / ``mutmut browse`` in them.

Output: per module, the mutants killed out of those tested for each kind, the score,
and every surviving mutant (mutmut's diff, or the hand-made change and its line).
A survivor is either a missing test or an equivalent mutant: say which when you
report it. Exit status 0 when the run completed, 2 on bad usage, 3 when the tests do
not pass on the unmutated code.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "speckit_git_policy"

# The modules under mutation, as globs found at run time.
TARGETS = (
    f"{PACKAGE}/ids.py",
    f"{PACKAGE}/snapshot.py",
    f"{PACKAGE}/policy/checker.py",
    f"{PACKAGE}/enforce/*.py",
    f"{PACKAGE}/store/capsule/merge.py",
    f"{PACKAGE}/runs/*.py",
)

# Test files that exercise each module (a glob of TARGETS, or a path), fastest and most
# direct first. Files that do not exist are skipped; test files that import the module
# by its dotted name are added after these.
TESTS: dict[str, tuple[str, ...]] = {
    f"{PACKAGE}/ids.py": ("test_ids.py", "test_store_fs.py", "test_capsule.py", "test_cli_policy.py",
                          "test_cli_runs.py", "test_runs.py", "test_gitio_capsule.py"),
    f"{PACKAGE}/snapshot.py": ("test_snapshot.py", "test_capture.py", "test_store_fs.py", "test_verify.py"),
    f"{PACKAGE}/policy/checker.py": ("test_checks.py", "test_model.py", "test_lint.py", "test_sources.py"),
    f"{PACKAGE}/enforce/*.py": ("test_enforce.py", "test_cli_enforce.py"),
    f"{PACKAGE}/store/capsule/merge.py": ("test_sync.py", "test_capsule.py"),
    f"{PACKAGE}/runs/*.py": ("test_runs.py", "test_cli_runs.py", "test_trace.py"),
}
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider")
# Module-level names that are plumbing, not rules.
SKIP_NAMES = {"TYPE_CHECKING", "__all__", "_EXPORTS"}
REGEX_FUNCTIONS = {"compile", "fullmatch", "match", "search"}

# mutmut's exit codes (mutmut/stats.py), as we count them.
KILLED_CODES = {1, 3, 36, 24, -24, 152, 255, 37, -11, -9}  # killed, timeout, type check, crash
SURVIVED_CODES = {0}
NO_TESTS_CODES = {5, 33}


# ---- what is mutated --------------------------------------------------------------------
def target_modules() -> list[str]:
    found: list[str] = []
    for pattern in TARGETS:
        for path in sorted(ROOT.glob(pattern)):
            relative = path.relative_to(ROOT).as_posix()
            if relative not in found:
                found.append(relative)
    return found


def select_modules(wanted: Sequence[str]) -> list[str]:
    modules = target_modules()
    if not wanted:
        return modules
    chosen: list[str] = []
    for name in wanted:
        name = name.removesuffix("/")
        matches = [m for m in modules
                   if name in (m, m.removesuffix(".py"), Path(m).stem, Path(m).parent.name,
                               Path(m).parent.as_posix())]
        if not matches:
            raise SystemExit(f"error: no module under mutation matches {name!r} "
                             f"(one of: {', '.join(Path(m).stem for m in modules)})")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def tests_for(module: str, override: Sequence[str], root: Path = ROOT) -> list[str]:
    if override:
        return list(override)
    names: list[str] = []
    for pattern, files in TESTS.items():
        if Path(module).match(pattern) or module == pattern:
            names += [f for f in files if f not in names]
    tests = [f"tests/{name}" for name in names if (root / "tests" / name).exists()]
    dotted = module.removesuffix(".py").replace("/", ".")
    parent, _, stem = dotted.rpartition(".")
    importing = re.compile(rf"\b{re.escape(dotted)}\b|from {re.escape(parent)} import [^\n]*\b{stem}\b")
    for path in sorted((root / "tests").glob("test_*.py")):
        if path.stem.endswith("_support"):  # builders shared by tests, no tests of their own
            continue
        relative = path.relative_to(root).as_posix()
        if relative not in tests and importing.search(path.read_text(encoding="utf-8")):
            tests.append(relative)
    return tests


# ---- hand-made mutants ------------------------------------------------------------------
@dataclass(frozen=True)
class HandMutant:
    line: int
    description: str
    start: int  # byte offsets in the source
    end: int
    replacement: str

    def apply(self, source: bytes) -> bytes:
        return source[: self.start] + self.replacement.encode("utf-8") + source[self.end:]


def _offsets(source: bytes) -> list[int]:
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _span(node: ast.AST, starts: list[int]) -> tuple[int, int]:
    # ast column offsets are in UTF-8 bytes
    start = starts[node.lineno - 1] + node.col_offset  # type: ignore[attr-defined]
    end = starts[node.end_lineno - 1] + node.end_col_offset  # type: ignore[attr-defined]
    return start, end


def _is_number_expression(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return _is_number_expression(node.operand)
    if isinstance(node, ast.BinOp):
        return _is_number_expression(node.left) and _is_number_expression(node.right)
    return False


def _regex_call_pattern(node: ast.AST) -> ast.Constant | None:
    """The literal pattern of ``re.compile("...")`` (or fullmatch/match/search)."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
            and node.func.attr in REGEX_FUNCTIONS and node.args
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
        return node.args[0]
    return None


def _class_items(body: str) -> list[tuple[int, int]]:
    """(start, end) of each item (a char, an escape, a range) of a character class body."""
    items: list[tuple[int, int]] = []
    i = 0
    while i < len(body):
        j = i + 2 if body[i] == "\\" else i + 1
        if j < len(body) - 1 and body[j] == "-":  # a range a-b (a trailing '-' is literal)
            j = j + 3 if body[j + 1] == "\\" else j + 2
        items.append((i, j))
        i = j
    return items


def regex_mutants(pattern: str) -> Iterator[tuple[str, str]]:
    """(what changed, new pattern) for one regex pattern."""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if pattern[i + 1: i + 2] == ".":
                yield f"'\\.' at {i} becomes '.'", pattern[:i] + "." + pattern[i + 2:]
            i += 2
            continue
        if c == "[":
            j = i + 1
            negated = pattern[j: j + 1] == "^"
            if negated:
                j += 1
            body_start = j
            if pattern[j: j + 1] == "]":
                j += 1
            while j < len(pattern) and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            body = pattern[body_start:j]
            whole = pattern[i: j + 1]
            if not negated:
                insert_at = body_start + (1 if body[:1] in ("]", "-") else 0)
                for extra in (".", "/"):
                    if extra not in body:
                        yield (f"{whole} at {i} also admits {extra!r}",
                               pattern[:insert_at] + "\\" + extra + pattern[insert_at:])
            items = _class_items(body)
            if len(items) > 1:
                start, end = items[-1]
                yield (f"{whole} at {i} loses {body[start:end]!r}",
                       pattern[: body_start + start] + pattern[body_start + end:])
            i = j + 1
            continue
        if c == "{":
            close = pattern.find("}", i)
            bounds = re.fullmatch(r"(\d+)(?:(,)(\d*))?", pattern[i + 1: close]) if close > 0 else None
            if bounds:
                low, comma, high = int(bounds.group(1)), bounds.group(2), bounds.group(3)
                rest = pattern[close + 1:]
                head = pattern[:i]
                if not comma:
                    yield f"{{{low}}} at {i} becomes {{{low},{low + 1}}}", f"{head}{{{low},{low + 1}}}{rest}"
                    if low > 0:
                        yield f"{{{low}}} at {i} becomes {{{low - 1},{low}}}", f"{head}{{{low - 1},{low}}}{rest}"
                else:
                    if high:
                        yield (f"{{{low},{high}}} at {i} becomes {{{low},{int(high) + 1}}}",
                               f"{head}{{{low},{int(high) + 1}}}{rest}")
                    if low > 0:
                        yield (f"{{{low},{high}}} at {i} becomes {{{low - 1},{high}}}",
                               f"{head}{{{low - 1},{high}}}{rest}")
                i = close + 1
                continue
        if c == "+":
            yield f"'+' at {i} becomes '*'", pattern[:i] + "*" + pattern[i + 1:]
        elif c == "*":
            yield f"'*' at {i} becomes '+'", pattern[:i] + "+" + pattern[i + 1:]
        elif c == "?" and pattern[i - 1: i] not in ("(", "*", "+", "?", "}"):
            yield f"the optional part before {i} becomes required", pattern[:i] + pattern[i + 1:]
        elif c in "^$":
            yield f"anchor {c!r} at {i} dropped", pattern[:i] + pattern[i + 1:]
        elif c not in "()|.?" and (c.isalnum() or c in "-_:/@=,"):
            yield f"literal {c!r} at {i} becomes '.'", pattern[:i] + "." + pattern[i + 1:]
        i += 1


def hand_mutants(source: bytes) -> list[HandMutant]:
    tree = ast.parse(source)
    starts = _offsets(source)
    mutants: list[HandMutant] = []

    def add(node: ast.AST, description: str, replacement: str) -> None:
        start, end = _span(node, starts)
        if source[start:end].decode("utf-8") != replacement:
            mutants.append(HandMutant(node.lineno, description, start, end, replacement))  # type: ignore[attr-defined]

    def text(node: ast.AST) -> str:
        start, end = _span(node, starts)
        return source[start:end].decode("utf-8")

    def drop_each(name: str, node: ast.expr, open_: str, close: str) -> None:
        elements = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else []
        if len(elements) < 2 or not all(isinstance(e, (ast.Constant, ast.Name, ast.Starred, ast.Attribute))
                                        for e in elements):
            return
        for k, element in enumerate(elements):
            kept = [text(e) for n, e in enumerate(elements) if n != k]
            body = ", ".join(kept) + ("," if open_ == "(" and len(kept) == 1 else "")
            add(node, f"{name} loses {text(element)}", f"{open_}{body}{close}")

    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if not isinstance(target, ast.Name) or target.id in SKIP_NAMES:
            continue
        name = target.id
        if _is_number_expression(value):
            original = text(value)
            add(value, f"{name} = ({original}) + 1", f"({original}) + 1")
            add(value, f"{name} = ({original}) - 1", f"({original}) - 1")
        elif isinstance(value, ast.Constant) and isinstance(value.value, str):
            add(value, f"{name} = {value.value!r} changed", repr(f"XX{value.value}XX"))
        elif isinstance(value, ast.Tuple):
            drop_each(name, value, "(", ")")
        elif isinstance(value, ast.List):
            drop_each(name, value, "[", "]")
        elif isinstance(value, ast.Set):
            drop_each(name, value, "{", "}")
        elif (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
              and value.func.id in ("frozenset", "set", "tuple") and len(value.args) == 1):
            inner = value.args[0]
            if isinstance(inner, ast.Tuple):
                drop_each(name, inner, "(", ")")
            elif isinstance(inner, (ast.Set, ast.List)):
                drop_each(name, inner, "{" if isinstance(inner, ast.Set) else "[", "}" if isinstance(inner, ast.Set) else "]")
        elif isinstance(value, ast.Dict) and len(value.keys) >= 2 and all(k is not None for k in value.keys):
            pairs = [(text(k), text(v)) for k, v in zip(value.keys, value.values) if k is not None]
            for drop, (key, _) in enumerate(pairs):
                body = ", ".join(f"{k}: {v}" for n, (k, v) in enumerate(pairs) if n != drop)
                add(value, f"{name} loses key {key}", "{" + body + "}")

    for node in ast.walk(tree):
        literal = _regex_call_pattern(node)
        if literal is None:
            continue
        pattern = str(literal.value)
        shown = pattern if len(pattern) <= 40 else pattern[:37] + "..."
        for description, new in regex_mutants(pattern):
            try:
                re.compile(new)
            except re.error:
                continue
            if new != pattern:
                add(literal, f"regex {shown!r}: {description}", repr(new))

    unique: dict[tuple[int, int, str], HandMutant] = {}
    for mutant in mutants:
        candidate = mutant.apply(source)
        try:
            compile(candidate, "<mutant>", "exec")
        except SyntaxError:
            continue
        unique.setdefault((mutant.start, mutant.end, mutant.replacement), mutant)
    return list(unique.values())


def spread(items: list[str] | list[HandMutant], limit: int | None) -> list:  # type: ignore[type-arg]
    """At most ``limit`` items, evenly spread over the list (a fixed choice)."""
    if limit is None or len(items) <= limit:
        return list(items)
    step = len(items) / limit
    return [items[int(k * step)] for k in range(limit)]


# ---- sandboxes ----------------------------------------------------------------------------
def project_files() -> list[str]:
    """The checkout's files, untracked ones included (a new test file counts)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, check=True).stdout
        names = [n for n in out.decode("utf-8").split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file()
                 and not {".git", "__pycache__", "mutants"} & set(p.relative_to(ROOT).parts)]
    return [n for n in names if (ROOT / n).is_file() and not n.startswith("mutants/")]


def snapshot_checkout(parent: Path) -> Path:
    """A copy of the checkout taken once, at the start: every sandbox is copied from it,
    so edits made while the run goes on do not leak into it."""
    snapshot = parent / "checkout"
    for relative in project_files():
        destination = snapshot / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, destination, follow_symlinks=False)
    return snapshot


def make_sandbox(snapshot: Path, name: str) -> Path:
    sandbox = snapshot.parent / name
    shutil.copytree(snapshot, sandbox, symlinks=True)
    return sandbox


def run_tests(sandbox: Path, tests: Sequence[str], timeout: float) -> tuple[str, float, str]:
    """("killed" | "survived" | "timeout" | "no tests" | "error", seconds, output tail)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(sandbox), env["PYTHONPATH"]]) if env.get("PYTHONPATH") else str(sandbox)
    env.pop("MUTANT_UNDER_TEST", None)
    started = time.monotonic()
    try:
        result = subprocess.run([sys.executable, "-m", "pytest", *PYTEST_ARGS, *tests], cwd=sandbox,
                                env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started, ""
    elapsed = time.monotonic() - started
    tail = (result.stdout + result.stderr)[-2000:]
    status = {0: "survived", 1: "killed", 2: "killed", 3: "killed", 5: "no tests"}.get(result.returncode, "error")
    return status, elapsed, tail


# ---- results --------------------------------------------------------------------------------
@dataclass
class Outcome:
    kind: str  # "mutmut" or "hand"
    name: str
    status: str  # killed, survived, timeout, no tests, not checked, error
    detail: str = ""


@dataclass
class ModuleReport:
    module: str
    tests: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def counts(self, kind: str | None = None) -> tuple[int, int]:
        chosen = [o for o in self.outcomes if kind is None or o.kind == kind]
        tested = [o for o in chosen if o.status in ("killed", "timeout", "survived", "no tests")]
        killed = [o for o in tested if o.status in ("killed", "timeout")]
        return len(killed), len(tested)


def score(killed: int, tested: int) -> str:
    return f"{100 * killed / tested:.1f}%" if tested else "n/a"


# ---- running ---------------------------------------------------------------------------------
def run_hand(module: str, tests: list[str], args: argparse.Namespace, snapshot: Path,
             report: ModuleReport) -> None:
    source = (snapshot / module).read_bytes()
    mutants = spread(hand_mutants(source), args.max_mutants)
    if not mutants:
        return
    jobs = max(1, min(args.jobs, len(mutants)))
    sandboxes = [make_sandbox(snapshot, f"hand-{Path(module).stem}-{k}") for k in range(jobs)]
    status, elapsed, tail = run_tests(sandboxes[0], tests, args.timeout)
    if status != "survived":
        print(f"error: the tests of {module} do not pass on the unmutated code ({status}):\n{tail}",
              file=sys.stderr)
        raise SystemExit(3)
    print(f"  hand-made: {len(mutants)} mutants, clean run {elapsed:.0f}s", flush=True)
    free = list(sandboxes)

    def one(mutant: HandMutant) -> Outcome:
        sandbox = free.pop()
        try:
            (sandbox / module).write_bytes(mutant.apply(source))
            result, seconds, _ = run_tests(sandbox, tests, args.timeout)
            return Outcome("hand", f"{module}:{mutant.line}", result,
                           f"{mutant.description}  ({seconds:.0f}s)")
        finally:
            (sandbox / module).write_bytes(source)
            free.append(sandbox)

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for outcome in pool.map(one, mutants):
            report.outcomes.append(outcome)
            mark = "." if outcome.status in ("killed", "timeout") else "S"
            print(mark, end="", flush=True)
    print(flush=True)


def _mutmut_exe() -> str:
    beside = Path(sys.executable).with_name("mutmut")
    found = str(beside) if beside.exists() else shutil.which("mutmut")
    if not found:
        raise SystemExit("error: mutmut is not installed (pip install -e '.[test,mutation]'), "
                         "or run with --no-mutmut")
    return found


def run_mutmut(module: str, tests: list[str], args: argparse.Namespace, snapshot: Path,
               report: ModuleReport) -> None:
    sandbox = make_sandbox(snapshot, f"mutmut-{Path(module).stem}")
    top = sorted({p.name for p in snapshot.iterdir()} - {PACKAGE, "tests", "setup.cfg", "pyproject.toml"})
    lines = ["[mutmut]", f"source_paths = {PACKAGE}", f"only_mutate = {module}", "also_copy ="]
    lines += [f"    {name}" for name in top]
    lines += ["pytest_add_cli_args ="] + [f"    {a}" for a in PYTEST_ARGS if a != "-x"]
    lines += ["pytest_add_cli_args_test_selection ="] + [f"    {t}" for t in tests]
    # pyproject.toml has no [tool.mutmut], so mutmut reads setup.cfg.
    (sandbox / "setup.cfg").write_text("\n".join(lines) + "\n", encoding="utf-8")
    exe = _mutmut_exe()
    meta = sandbox / "mutants" / f"{module}.meta"
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)

    def mutmut(*names: str) -> None:
        result = subprocess.run([exe, "run", "--max-children", str(args.jobs), *names], cwd=sandbox,
                                env=env, capture_output=True, text=True)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr)[-3000:]
            print(f"error: mutmut failed on {module}:\n{tail}", file=sys.stderr)
            raise SystemExit(3)

    started = time.monotonic()
    if args.max_mutants is None:
        mutmut()
    else:
        # The first mutant of every function: this generates them all (and runs those).
        mutmut(f"{module.removesuffix('.py').replace('/', '.')}.x*__mutmut_1")
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        chosen = spread(sorted(codes, key=_mutant_order), args.max_mutants)
        pending = [name for name in chosen if codes[name] is None]
        if pending:
            mutmut(*pending)
    codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"] if meta.exists() else {}
    if args.max_mutants is not None:
        keep = set(spread(sorted(codes, key=_mutant_order), args.max_mutants))
        codes = {k: v for k, v in codes.items() if k in keep}
    print(f"  mutmut: {len(codes)} mutants in {time.monotonic() - started:.0f}s", flush=True)
    for name, code in sorted(codes.items(), key=lambda item: _mutant_order(item[0])):
        if code is None:
            status = "not checked"
        elif code in KILLED_CODES:
            status = "killed"
        elif code in SURVIVED_CODES:
            status = "survived"
        elif code in NO_TESTS_CODES:
            status = "no tests"
        else:
            status = "error"
        detail = ""
        if status in ("survived", "no tests"):
            shown = subprocess.run([exe, "show", name], cwd=sandbox, env=env, capture_output=True, text=True)
            detail = "\n".join(line for line in shown.stdout.splitlines()
                               if line[:1] in "+-" and not line.startswith(("+++", "---")))
        report.outcomes.append(Outcome("mutmut", name, status, detail))


def _mutant_order(name: str) -> tuple[str, int]:
    function, _, number = name.rpartition("__mutmut_")
    return function, int(number) if number.isdigit() else 0


def print_report(reports: list[ModuleReport]) -> None:
    print()
    print(f"{'module':48} {'mutmut':>12} {'hand-made':>12} {'score':>8}")
    for report in reports:
        mk, mt = report.counts("mutmut")
        hk, ht = report.counts("hand")
        k, t = report.counts()
        print(f"{report.module:48} {f'{mk}/{mt}':>12} {f'{hk}/{ht}':>12} {score(k, t):>8}")
    for report in reports:
        survivors = [o for o in report.outcomes if o.status not in ("killed", "timeout")]
        if not survivors:
            continue
        print(f"\nsurvivors in {report.module} (tests: {' '.join(report.tests)}):")
        for outcome in survivors:
            print(f"  [{outcome.kind}] {outcome.name}: {outcome.status}")
            for line in outcome.detail.splitlines():
                print(f"      {line}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--module", action="append", default=[],
                        help="ids, merge, checker, enforce, runs, ... (repeatable; default: all)")
    parser.add_argument("--max-mutants", type=int, default=None, help="per module and kind")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds for one hand-made mutant's tests (default 600)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument("--tests", nargs="+", default=[], help="test files instead of the mapped ones")
    parser.add_argument("--no-mutmut", action="store_true", help="hand-made mutants only")
    parser.add_argument("--no-hand", action="store_true", help="mutmut's mutants only")
    parser.add_argument("--keep", action="store_true", help="keep the sandboxes")
    parser.add_argument("--list", action="store_true", help="modules, their tests and hand-made mutants")
    args = parser.parse_args(argv)
    if args.max_mutants is not None and args.max_mutants < 1 or args.jobs < 1:
        parser.error("--max-mutants and --jobs must be at least 1")
    modules = select_modules(args.module)

    if args.list:
        for module in modules:
            print(f"{module}\n  tests: {' '.join(tests_for(module, args.tests)) or '(none)'}")
            for mutant in hand_mutants((ROOT / module).read_bytes()):
                print(f"  {mutant.line:4} {mutant.description}")
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="speckit-mutation-"))
    reports: list[ModuleReport] = []
    try:
        snapshot = snapshot_checkout(workdir)
        for module in modules:
            tests = tests_for(module, args.tests, snapshot)
            report = ModuleReport(module, tests)
            reports.append(report)
            print(f"{module}: tests {' '.join(tests) or '(none)'}", flush=True)
            if not tests:
                continue
            started = time.monotonic()
            if not args.no_mutmut:
                run_mutmut(module, tests, args, snapshot, report)
            if not args.no_hand:
                run_hand(module, tests, args, snapshot, report)
            report.seconds = time.monotonic() - started
    finally:
        print_report(reports)
        if args.keep:
            print(f"\nsandboxes kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
