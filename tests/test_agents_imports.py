"""The hot paths stay free of the agents' libraries: HTTP clients, SDKs and Spec Kit are
imported only by the code that uses them (the guard's transports and clients, the Spec Kit
installer's subprocess), never by hooks or by commands that do not need them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "anthropic", "specify_cli", "anyio")

PROBE = """
import json, sys
from speckit_git_policy.cli import main
sys.argv = ["git-speckit-policy", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
print("\\nLOADED " + json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded_by(argv: list[str]) -> list[str]:
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), json.dumps(argv)],
                            capture_output=True, text=True, timeout=120)
    line = [row for row in result.stdout.splitlines() if row.startswith("LOADED ")][-1]
    modules: list[str] = json.loads(line[len("LOADED "):])
    return modules


def test_importing_the_package_hooks_runs_and_the_guard_package_loads_no_http_library() -> None:
    code = (
        "import sys\n"
        "import speckit_git_policy, speckit_git_policy.hooks.runner, speckit_git_policy.runs.run\n"
        "import speckit_git_policy.guard, speckit_git_policy.enforce.ledger, speckit_git_policy.cli\n"
        "import speckit_git_policy.queries.verify, speckit_git_policy.integrations.speckit.recorder\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("argv", [
    ["run", "start", "--run-id", "light"],
    ["run", "checkpoint", "light"],
    ["verify"],
    ["doctor"],
    ["budget", "status", "light"],
    ["route", "architect"],
    ["speckit", "stage", "plan"],
])
def test_commands_that_do_not_call_a_model_import_none_of_it(policy_repo: Path, argv: list[str]) -> None:
    if argv[:2] != ["run", "start"]:
        loaded_by(["-C", str(policy_repo), "run", "start", "--run-id", "light"])
    assert loaded_by(["-C", str(policy_repo), *argv]) == []
