"""CI output formats: GitHub Actions workflow commands and plain file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from speckit_git_policy.cli import cli
from speckit_git_policy.evidence.annotations import github_annotation, resolve_format


def test_github_annotation_escapes_data_and_properties() -> None:
    line = github_annotation("error", "50% bad\nnext", "dir/a,b.toml", 7, "a:b")
    assert line == "::error file=dir/a%2Cb.toml,line=7,title=a%3Ab::50%25 bad%0Anext"


def test_format_follows_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_format("auto") == "plain"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert resolve_format("auto") == "github"
    assert resolve_format("plain") == "plain"


def test_validate_prints_annotations_with_file_and_line(policy_repo: Path) -> None:
    policy = policy_repo / "model_policy.toml"
    policy.write_text(policy.read_text().replace('mode = "prompts_only"', 'mode = "all"'))
    line = next(i for i, text in enumerate(policy.read_text().splitlines(), 1) if text.startswith("mode ="))
    github = CliRunner().invoke(cli, ["-C", str(policy_repo), "validate", "--format", "github"])
    assert github.exit_code == 1
    assert github.stdout.startswith(f"::error file=model_policy.toml,line={line},title=capture.mode::")
    plain = CliRunner().invoke(cli, ["-C", str(policy_repo), "validate", "--format", "plain"])
    assert plain.exit_code == 1
    assert plain.output.startswith(f"model_policy.toml:{line}: capture.mode: expected")
    as_json = CliRunner().invoke(cli, ["-C", str(policy_repo), "validate", "--json"])
    assert json.loads(as_json.stdout)["errors"][0]["line"] == line


def test_completion_scripts_register_for_the_console_script() -> None:
    import subprocess

    for shell in ("bash", "zsh", "fish"):
        out = subprocess.run(["git-speckit-policy"], env={"_GIT_SPECKIT_POLICY_COMPLETE": f"{shell}_source",
                                                         "PATH": __import__("os").environ["PATH"]},
                             capture_output=True, text=True).stdout
        assert "git-speckit-policy" in out, shell
        assert "complete -o nosort -F _git_speckit_policy_completion git speckit-policy" not in out
