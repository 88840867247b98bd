"""The call-time guard's cost (docs/DESIGN.md §7): a guarded call against a bare one.

A stub OpenAI/Anthropic-compatible server (``tests/llm_stub.py``) runs in a child process
on 127.0.0.1, so that this process's CPU time is the client's alone. For each HTTP library
(``httpx`` with ``PolicyTransport``, ``httpx2`` with ``PolicyTransport2``) the same chat
completion is posted by a bare client and by a guarded one, in interleaved rounds (the
order alternates per round); per call, wall and CPU time are taken as the median of the
rounds. Every guarded call decides (route, token and cost budgets, under the run's lock)
and appends one ``UsageRecorded`` event to the capsule before it returns, so the guarded
calls per second are also the event appends per second through the guard.

Usage: python bench/bench_guard.py [--rounds 7] [--calls 60] [--sdk]
(--sdk adds the openai SDK, bare ``OpenAI`` against ``openai_client``.)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from speckit_git_policy.runs.run import Run, start_run

POLICY = (ROOT / "model_policy.toml").read_text().replace("plan = 8000", "plan = 1000000000")
BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}
SERVER = (
    "import sys; sys.path.insert(0, sys.argv[1]); import llm_stub, time\n"
    "server = llm_stub.StubServer().start()\n"
    "print(server.url, flush=True)\n"
    "sys.stdin.read()\n"  # until the parent closes our stdin
    "server.stop()\n"
)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_run(directory: Path) -> Run:
    git(directory, "init", "-q")
    for key, value in (("user.name", "Bench"), ("user.email", "bench@example.com")):
        git(directory, "config", key, value)
    (directory / "docs").mkdir()
    (directory / "model_policy.toml").write_text(POLICY)
    (directory / "docs" / "MODEL-POLICY.md").write_bytes(
        (ROOT / "docs" / "MODEL-POLICY.md").read_bytes()
    )
    git(directory, "add", "-A")
    git(directory, "commit", "-q", "-m", "policy")
    run = start_run(directory, "bench-guard")
    run.stage("plan")
    return run


class AppendTimer:
    """Wraps the run's capsule, to tell the capsule append's share of a guarded call."""

    def __init__(self, capsule: Any) -> None:
        self.capsule = capsule
        self.seconds = 0.0
        self.count = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.capsule, name)

    def append_event(self, *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.capsule.append_event(*args)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1


def timed(call: Callable[[], Any], count: int) -> tuple[float, float]:
    """(wall, CPU) seconds per call over ``count`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        call()
    return (time.perf_counter() - wall) / count, (time.process_time() - cpu) / count


def compare(
    name: str, bare: Callable[[], Any], guarded: Callable[[], Any], rounds: int, calls: int
) -> float:
    for call in (bare, guarded):  # warm connections and caches
        timed(call, 5)
    results: dict[str, list[tuple[float, float]]] = {"bare": [], "guarded": []}
    for number in range(rounds):
        order = [("bare", bare), ("guarded", guarded)]
        for label, call in order if number % 2 == 0 else reversed(order):
            results[label].append(timed(call, calls))
    medians = {
        label: (statistics.median(w for w, _ in rows), statistics.median(c for _, c in rows))
        for label, rows in results.items()
    }
    (bare_wall, bare_cpu), (guard_wall, guard_cpu) = medians["bare"], medians["guarded"]
    print(f"{name}: per call, median of {rounds} interleaved rounds of {calls}")
    print(f"  bare     wall {bare_wall * 1e3:7.3f} ms   CPU {bare_cpu * 1e3:7.3f} ms")
    print(f"  guarded  wall {guard_wall * 1e3:7.3f} ms   CPU {guard_cpu * 1e3:7.3f} ms")
    print(
        f"  ratio    wall {guard_wall / bare_wall:7.2f}x     CPU {guard_cpu / bare_cpu:7.2f}x   "
        f"overhead {(guard_wall - bare_wall) * 1e3:.3f} ms wall per call"
    )
    print(f"  through the guard: {1 / guard_wall:,.0f} calls/s = UsageRecorded appends/s")
    return guard_wall / bare_wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--sdk", action="store_true", help="also compare through the openai SDK")
    options = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(ROOT / "tests")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip() + "/v1/chat/completions"
        with tempfile.TemporaryDirectory(prefix="bench-guard-") as scratch:
            run = make_run(Path(scratch))
            appends = AppendTimer(run.capsule)
            run.capsule = appends  # type: ignore[assignment]
            import httpx
            import httpx2

            from speckit_git_policy.guard import PolicyTransport, PolicyTransport2

            for library, transport in ((httpx, PolicyTransport), (httpx2, PolicyTransport2)):
                with (
                    library.Client(timeout=30) as bare,
                    library.Client(
                        timeout=30, transport=transport(run, role="architect", stage="plan")
                    ) as guarded,
                ):
                    compare(
                        f"{library.__name__} ({transport.__name__})",
                        lambda client=bare: client.post(url, json=BODY).raise_for_status(),
                        lambda client=guarded: client.post(url, json=BODY).raise_for_status(),
                        options.rounds,
                        options.calls,
                    )
            if options.sdk:
                import openai

                from speckit_git_policy.guard import openai_client

                base = url.rsplit("/chat/completions", 1)[0]
                plain = openai.OpenAI(base_url=base, api_key="x", max_retries=0)
                wrapped = openai_client(
                    run, role="architect", stage="plan", base_url=base, api_key="x", max_retries=0
                )
                compare(
                    "openai SDK (openai_client)",
                    lambda: plain.chat.completions.create(**BODY),  # type: ignore[call-overload]
                    lambda: wrapped.chat.completions.create(**BODY),
                    options.rounds,
                    options.calls,
                )
            print(
                f"capsule appends (the synchronous UsageRecorded writes): {appends.count}, "
                f"{appends.seconds / max(appends.count, 1) * 1e3:.3f} ms wall each; "
                "the rest of the overhead is the guard's decisions and metering"
            )
            recorded = sum(
                1
                for e in Run.open(Path(scratch), "bench-guard").events()
                if e["type"] == "UsageRecorded"
            )
            print(f"UsageRecorded events in the run: {recorded} (every guarded call, none lost)")
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
