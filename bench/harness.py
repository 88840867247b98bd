"""Interleaved measurement for the benchmarks of bench/ (docs/DESIGN.md §10).

Every variant runs once per round, in an order that rotates from round to round,
so that load drifting on a shared machine falls on every variant alike instead of
on whichever block of runs it hit. Per run it records wall time and the CPU time
(user + system) of the whole process tree: this process's own and that of every
child waited for meanwhile (``resource.getrusage`` deltas: a git commit's hooks,
git itself, Python started by them). CPU time is the steadier figure under load.

Ratios are taken round by round (a variant against a baseline of the same round)
and summarised by their median and range, so a slow round counts against both.

    from harness import Variant, measure, report
    results = measure([Variant("a", fn_a), Variant("b", fn_b)], rounds=15)
    print(report(results, baselines=["a"]))
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Variant:
    """One thing to time: ``run`` does it once; ``prepare`` (untimed) runs before each."""

    name: str
    run: Callable[[], object]
    prepare: Callable[[], object] | None = None


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def time_once(variant: Variant) -> tuple[float, float]:
    if variant.prepare is not None:
        variant.prepare()
    cpu, wall = _cpu(), time.perf_counter()
    variant.run()
    return time.perf_counter() - wall, _cpu() - cpu


def measure(variants: Sequence[Variant], rounds: int, warmup: int = 1) -> dict[str, Samples]:
    """``warmup`` untimed rounds, then ``rounds`` timed ones, variants interleaved."""
    results = {variant.name: Samples() for variant in variants}
    for number in range(warmup + rounds):
        shift = number % len(variants)
        for variant in [*variants[shift:], *variants[:shift]]:
            wall, cpu = time_once(variant)
            if number >= warmup:
                results[variant.name].wall.append(wall)
                results[variant.name].cpu.append(cpu)
    return results


def command(
    argv: Sequence[str], cwd: str | os.PathLike[str] | None = None, **env: str
) -> Callable[[], None]:
    """A run that starts ``argv`` and fails loudly if it fails."""
    full_env = {**os.environ, **env}

    def run() -> None:
        result = subprocess.run(list(argv), cwd=cwd, env=full_env, capture_output=True)
        if result.returncode != 0:
            raise SystemExit(
                f"{' '.join(argv)} exited {result.returncode}: {result.stderr.decode()[-2000:]}"
            )

    return run


def compile_package(python: str) -> None:
    """Compile the package ``python`` imports, as a pip install does: an editable
    checkout under PYTHONDONTWRITEBYTECODE would compile every module in every timed
    process (and flatter whichever side imports more of them)."""
    subprocess.run(
        [
            python,
            "-c",
            "import compileall, os, speckit_git_policy as s; "
            "compileall.compile_dir(os.path.dirname(s.__file__), quiet=1)",
        ],
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    )


def _spread(values: list[float]) -> tuple[float, float, float, float, float]:
    """median, min, max, first and third quartiles."""
    ordered = sorted(values)
    if len(ordered) >= 4:
        q1, _q2, q3 = statistics.quantiles(ordered, n=4)
    else:
        q1, q3 = ordered[0], ordered[-1]
    return statistics.median(ordered), ordered[0], ordered[-1], q1, q3


def ratios(results: dict[str, Samples], name: str, baseline: str, kind: str) -> list[float]:
    """``name`` / ``baseline`` round by round (``kind``: "wall" or "cpu")."""
    mine, theirs = getattr(results[name], kind), getattr(results[baseline], kind)
    return [a / b for a, b in zip(mine, theirs) if b > 0]


def ratio_text(results: dict[str, Samples], name: str, baseline: str) -> str:
    parts = []
    for kind in ("cpu", "wall"):
        values = ratios(results, name, baseline, kind)
        median, low, high, _q1, _q3 = _spread(values)
        parts.append(f"{kind} {median:.2f}x ({low:.2f}-{high:.2f})")
    return ", ".join(parts)


def report(results: dict[str, Samples], baselines: Sequence[str] = (), unit: float = 1e3) -> str:
    """A table: median, IQR and range of wall and CPU per variant (ms), then each
    variant's per-round ratios against each baseline."""
    width = max(len(name) for name in results)
    lines = [
        f"{'variant':<{width}}  {'cpu ms':>8} {'IQR':>15} {'range':>15}  "
        f"{'wall ms':>8} {'IQR':>15} {'range':>15}"
    ]
    for name, samples in results.items():
        cells = []
        for values in (samples.cpu, samples.wall):
            median, low, high, q1, q3 = _spread(values)
            cells.append(
                f"{median * unit:8.1f} {f'{q1 * unit:.1f}-{q3 * unit:.1f}':>15} "
                f"{f'{low * unit:.1f}-{high * unit:.1f}':>15}"
            )
        lines.append(f"{name:<{width}}  {cells[0]}  {cells[1]}")
    for baseline in baselines:
        lines.append("")
        lines.append(f"per-round ratio to {baseline!r}: median (min-max)")
        for name in results:
            if name != baseline:
                lines.append(f"  {name:<{width}}  {ratio_text(results, name, baseline)}")
    return "\n".join(lines)


def load() -> str:
    """The machine's load when measured (the figures are only comparable with it)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"
