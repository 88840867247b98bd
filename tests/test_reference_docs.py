"""docs/REFERENCE.md is generated from the CLI; this fails when they disagree."""

from __future__ import annotations

from conftest import REPO_ROOT

from speckit_git_policy.cli import cli
from speckit_git_policy.cli.reference import render


def test_reference_matches_the_cli() -> None:
    committed = (REPO_ROOT / "docs" / "REFERENCE.md").read_text()
    assert committed == render(), (
        "docs/REFERENCE.md is out of date: python -m speckit_git_policy.cli.reference > docs/REFERENCE.md"
    )


def test_reference_names_every_command() -> None:
    text = render()
    for name in cli.commands:
        assert f"## `git speckit-policy {name}" in text
