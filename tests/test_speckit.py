"""The Spec Kit integration end to end, with the real specify-cli, offline: init a project,
``speckit install``, run the workflow with a stub agent that records its arguments, and
read the run it left (docs/DESIGN.md §7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git, write_policy_sources

pytest.importorskip("specify_cli")

from speckit_git_policy.runs.run import Run  # noqa: E402

BIN = Path(sys.executable).parent
FEATURE = "001-photo-albums"
STUB_AGENT = """\
#!/bin/sh
# A stub agent: records its arguments, leaves what each Spec Kit command would leave.
printf '%s\\n' "$*" >> "$STUB_AGENT_LOG"
feature=specs/001-photo-albums
case "$2" in
  /speckit-specify*|/speckit.specify*)
    mkdir -p "$feature"; echo "# Spec" > "$feature/spec.md"
    printf '{"feature_directory": "%s"}\\n' "$feature" > .specify/feature.json ;;
  /speckit-plan*|/speckit.plan*) echo "# Plan" > "$feature/plan.md" ;;
  /speckit-tasks*|/speckit.tasks*)
    echo "# Tasks" > "$feature/tasks.md"
    # The policy is edited while tasks runs: the implement boundary must see it.
    sed -i 's/^implement = 6000/implement = 7000/' model_policy.toml ;;
esac
"""


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    stubs = tmp_path / "stub-bin"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SPECIFY_", "SPECKIT_"))}
    env["PATH"] = f"{stubs}{os.pathsep}{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(NO_COLOR="1", TERM="dumb", COLUMNS="200", STUB_AGENT_LOG=str(tmp_path / "agent.log"))
    env.update(extra)
    return env


def run(cwd: Path, env: dict[str, str], *command: str, check: bool = True,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(command), cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=300, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"{command} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def spec_kit_project(tmp_path: Path, integration: str) -> tuple[Path, dict[str, str]]:
    root = tmp_path / f"project-{integration}"
    root.mkdir()
    git(root, "init", "-q")
    write_policy_sources(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "policy")
    env = environment(tmp_path)
    stubs = tmp_path / "stub-bin"
    stubs.mkdir(exist_ok=True)
    for name in ("claude", "copilot", "gemini"):
        (stubs / name).write_text(STUB_AGENT)
        (stubs / name).chmod(0o755)
    run(root, env, "specify", "init", "--here", "--force", "--non-interactive", "--integration",
        integration, "--ignore-agent-tools", "--script", "sh")
    return root, env


def install(root: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    result = run(root, env, "git", "speckit-policy", "speckit", "install", "--json", *extra)
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def events(root: Path, run_id: str = FEATURE) -> list[Any]:
    return Run.open(root, run_id).events()


@pytest.fixture(scope="module")
def claude_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    """One claude project through the whole workflow (init and the workflow take seconds)."""
    tmp_path = tmp_path_factory.mktemp("speckit")
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path / "home"
        home.mkdir()
        (home / ".gitconfig").write_text("[user]\n\tname = Ada Author\n\temail = ada@example.com\n"
                                         "[init]\n\tdefaultBranch = main\n")
        for key, value in {"HOME": str(home), "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
                           "GIT_CONFIG_NOSYSTEM": "1", "GIT_COMMITTER_NAME": "Cy Committer",
                           "GIT_COMMITTER_EMAIL": "cy@example.com", "GIT_AUTHOR_NAME": "Ada Author",
                           "GIT_AUTHOR_EMAIL": "ada@example.com"}.items():
            patch.setenv(key, value)
        root, env = spec_kit_project(tmp_path, "claude")
        installed = install(root, env)
        assert installed["changed"] == ["extension", "preset", "workflow"]
        result = run(root, env, "specify", "workflow", "run", "speckit-policy", "--input", "spec=photo albums")
        return root, env, result.stdout


def test_the_workflow_records_the_run_routes_each_stage_and_holds_its_budget(
    claude_project: tuple[Path, dict[str, str], str], tmp_path: Path
) -> None:
    root, env, output = claude_project
    assert "Status: completed" in output
    log = events(root)
    assert log[0]["type"] == "PolicySnapshotRef"
    transitions = [(e.get("from"), e["to"], e.get("via")) for e in log if e["type"] == "StageTransition"]
    assert transitions == [(None, "specify", "workflow"), ("specify", "plan", "workflow"),
                           ("plan", "tasks", "workflow"), ("tasks", "implement", "workflow")]
    # Each stage comes with its route and its two budget decisions, under its snapshot.
    for index, event in enumerate(log):
        if event["type"] == "StageTransition":
            following = log[index + 1:index + 4]
            assert [e["type"] for e in following] == ["RouteDecision", "BudgetDecision", "BudgetDecision"]
            assert [e["decision"].get("kind") for e in following[1:]] == ["tokens", "cost"]
            assert all(e["policy_id"] == event["policy_id"] for e in following)
            assert following[0]["decision"]["candidates"][0] == "claude-sonnet-4-20250514"
    assert log[-1]["type"] == "Checkpoint" and log[-1]["label"] == "implement-complete"
    # The policy edit made during tasks shows at the implement boundary.
    implement = next(e for e in log if e.get("to") == "implement")
    assert implement["policy_changed"] is True
    assert implement["replaced_policy_id"] == log[0]["policy_id"] != implement["policy_id"]
    assert not any(e.get("policy_changed") for e in log if e.get("to") in ("plan", "tasks"))
    shown = run(root, env, "git", "speckit-policy", "run", "show", FEATURE).stdout.splitlines()
    changed = [line for line in shown if "policy changed" in line]
    assert len(changed) == 1 and "implement" in changed[0] and "StageTransition" in changed[0]
    # The agent was given the route's first candidate as --model, for every stage.
    calls = Path(env["STUB_AGENT_LOG"]).read_text().splitlines()
    assert [call.split()[1] for call in calls] == ["/speckit-specify", "/speckit-plan", "/speckit-tasks",
                                                   "/speckit-implement"]
    assert all("--model claude-sonnet-4-20250514" in call for call in calls)


def test_hooks_and_the_session_event_after_the_workflow_add_nothing(
    claude_project: tuple[Path, dict[str, str], str]
) -> None:
    root, env, _ = claude_project
    before = len(events(root))
    script = root / ".specify" / "extensions" / "policy" / "scripts" / "bash" / "policy-stage.sh"
    line = run(root, env, str(script), "implement").stdout  # as the agent runs its hook
    assert "nothing new to record" in line and "model for implementer" in line
    run(root, env, str(script), "done")
    settings = json.loads((root / ".claude" / "settings.json").read_text())
    command = settings["hooks"]["SessionStart"][0]["hooks"][0]["command"]
    assert "speckit.policy.stage session_start" in command
    dispatched = run(root, dict(env, CLAUDE_PROJECT_DIR=str(root)), "sh", "-c", command,
                     stdin=json.dumps({"session_id": "sess-1", "hook_event_name": "SessionStart"}))
    assert "run 001-photo-albums in stage implement" in dispatched.stdout
    assert len(events(root)) == before
    install_again = install(root, env)
    assert install_again["changed"] == [] and install_again["unchanged"] == ["extension", "preset", "workflow"]


def test_doctor_and_verify_check_the_wiring_and_the_features(
    claude_project: tuple[Path, dict[str, str], str]
) -> None:
    root, env, _ = claude_project
    doctor = json.loads(run(root, env, "git", "speckit-policy", "doctor", "--json", check=False).stdout)
    speckit = next(check for check in doctor["checks"] if check["name"] == "speckit")
    assert speckit["ok"] is True, speckit
    assert json.loads(run(root, env, "git", "speckit-policy", "verify", "--json").stdout)["ok"] is True
    skipped = root / "specs" / "002-skipped-hooks"
    skipped.mkdir()
    (skipped / "spec.md").write_text("# Spec\n")
    (skipped / "plan.md").write_text("# Plan\n")
    try:
        report = json.loads(run(root, env, "git", "speckit-policy", "verify", "--json", check=False).stdout)
        (problem,) = [p for p in report["problems"] if p["kind"] == "speckit"]
        assert report["ok"] is False and problem["feature"] == "specs/002-skipped-hooks"
        assert problem["missing"] == ["specify", "plan"]
        # The fix the message names records the run, the stages marked inferred: a warning.
        run(root, dict(env, SPECIFY_FEATURE_DIRECTORY="specs/002-skipped-hooks"), "git", "speckit-policy",
            "speckit", "stage", "session_start", "--via", "cli")
        report = json.loads(run(root, env, "git", "speckit-policy", "verify", "--json").stdout)
        (problem,) = [p for p in report["problems"] if p["kind"] == "speckit"]
        assert problem["severity"] == "warning" and problem["inferred"] == ["specify", "plan"]
        assert [e.get("via") for e in events(root, "002-skipped-hooks") if e["type"] == "StageTransition"] == [
            "inferred", "inferred"]
    finally:
        for path in skipped.iterdir():
            path.unlink()
        skipped.rmdir()


def test_the_stage_script_fails_loudly_without_the_tool(
    claude_project: tuple[Path, dict[str, str], str]
) -> None:
    root, env, _ = claude_project
    script = root / ".specify" / "extensions" / "policy" / "scripts" / "bash" / "policy-stage.sh"
    result = run(root, dict(env, PATH="/usr/bin:/bin"), str(script), "plan", check=False)
    assert result.returncode == 127
    assert len(result.stderr.strip().splitlines()) == 1 and "git-speckit-policy" in result.stderr
    doctor = json.loads(run(root, dict(env, SPECKIT_POLICY_TOOL="no-such-tool"), "git", "speckit-policy",
                            "doctor", "--json", check=False).stdout)
    speckit = next(check for check in doctor["checks"] if check["name"] == "speckit")
    assert speckit["ok"] is False and "no-such-tool is not on PATH" in speckit["detail"]


@pytest.mark.parametrize("integration,files", [
    ("copilot", [".github/skills/speckit-policy-stage/SKILL.md", ".github/skills/speckit-policy/SKILL.md",
                 ".github/hooks/speckit.json"]),
    ("gemini", [".gemini/commands/speckit.policy.stage.toml", ".gemini/commands/speckit.policy.toml",
                ".gemini/settings.json"]),
])
def test_install_works_for_copilot_and_gemini_and_is_idempotent(
    tmp_path: Path, integration: str, files: list[str]
) -> None:
    root, env = spec_kit_project(tmp_path, integration)
    assert install(root, env, "--integration", integration)["changed"] == ["extension", "preset", "workflow"]
    for name in files:
        assert (root / name).is_file(), name
    assert "speckit.policy.stage" in (root / files[-1]).read_text()  # the session_start event
    workflow = (root / ".specify" / "workflows" / "speckit-policy" / "workflow.yml").read_text()
    assert f'default: "{integration}"' in workflow
    assert install(root, env, "--integration", integration)["changed"] == []
    # The workflow's first stage before specify made the feature: pending, routed.
    pending = json.loads(run(root, env, str(root / ".specify/extensions/policy/scripts/bash/policy-stage.sh"),
                             "specify", "--via", "workflow", "--json").stdout)
    assert pending["pending"] is True and pending["model"] == "claude-sonnet-4-20250514"
    assert pending["recorded"] == []
    bad = run(root, env, "git", "speckit-policy", "speckit", "install", "--integration", "nope", check=False)
    assert bad.returncode == 2 and "specify integration install nope" in bad.stderr
    removed = run(root, env, "git", "speckit-policy", "speckit", "uninstall").stdout
    assert removed.strip() == "removed extension, preset, workflow"
    assert not (root / ".specify" / "extensions" / "policy").exists()
    assert not (root / files[0]).exists()


def test_install_outside_a_spec_kit_project_says_so(policy_repo: Path, tmp_path: Path) -> None:
    result = run(policy_repo, environment(tmp_path), "git", "speckit-policy", "speckit", "install", check=False)
    assert result.returncode == 2 and "not in a Spec Kit project" in result.stderr
