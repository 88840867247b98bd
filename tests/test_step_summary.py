"""Under GitHub Actions, validate and verify append a Markdown summary to
$GITHUB_STEP_SUMMARY (evidence/summary.py): appended, never overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from speckit_git_policy.capture import capture
from speckit_git_policy.cli import cli
from speckit_git_policy.git.repo import GitRepo

EARLIER = "## An earlier step\n\nits own summary\n\n"


def invoke(root: Path, *args: str) -> object:
    return CliRunner().invoke(cli, ["-C", str(root), *args])


@pytest.fixture
def summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "step_summary.md"
    path.write_text(EARLIER)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    return path


def test_validate_and_verify_append_what_they_found(policy_repo: Path, summary: Path) -> None:
    capture(GitRepo.discover(policy_repo), commit="HEAD", trigger="manual")
    assert invoke(policy_repo, "validate").exit_code == 0  # type: ignore[attr-defined]
    assert invoke(policy_repo, "verify").exit_code == 0  # type: ignore[attr-defined]
    policy = policy_repo / "model_policy.toml"
    policy.write_text(policy.read_text().replace('mode = "prompts_only"', 'mode = "<b>all</b> | x"'))
    result = invoke(policy_repo, "validate", "--json")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    text = summary.read_text()
    assert text.startswith(EARLIER)  # never overwritten
    valid, verified, invalid = (text.index(s) for s in (
        "Model policy: valid", "Model policy verify: ✅ ok", "Model policy: 1 problem(s)"))
    assert valid < verified < invalid  # appended in order
    assert "| File | Line | Key | Problem |" in text
    assert "| model\\_policy.toml | 16 | capture.mode |" in text
    assert "&lt;b&gt;all&lt;/b&gt; \\| x" in text and "<b>" not in text  # escaped values


def test_verify_summary_lists_problems_with_the_fix(policy_repo: Path, summary: Path) -> None:
    captured = capture(GitRepo.discover(policy_repo), commit="HEAD", trigger="manual")
    (policy_repo / captured.path).unlink()
    assert invoke(policy_repo, "verify", "--format", "sarif").exit_code == 1  # type: ignore[attr-defined]
    text = summary.read_text()
    assert "Model policy verify: ❌ 1 problem(s)" in text
    assert "filesystem copy is missing" in text and "verify --repair" in text


def test_nothing_is_written_outside_github_actions(policy_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert invoke(policy_repo, "validate").exit_code == 0  # type: ignore[attr-defined]
    assert not list(tmp_path.glob("*summary*"))


def test_an_unwritable_summary_warns_and_keeps_the_verdict(policy_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path))  # a directory
    result = invoke(policy_repo, "validate")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert "warning: cannot append the step summary" in result.output  # type: ignore[attr-defined]
