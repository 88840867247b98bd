"""Help like git's: the man page is generated from the CLI (and cannot drift), installed
where ``man`` finds it from the PATH, shown by ``git help speckit-policy`` and
``git speckit-policy --help``; ``help [COMMAND]`` works (issue 12)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import REPO_ROOT

from speckit_git_policy.cli import cli
from speckit_git_policy.cli.help_commands import manual_path
from speckit_git_policy.cli.reference import MAN_PAGE, render_man

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PAGE = REPO_ROOT / "speckit_git_policy" / MAN_PAGE
MAN = shutil.which("man")
needs_man = pytest.mark.skipif(MAN is None, reason="man is not installed (apt-get install man-db)")


def test_the_man_page_matches_the_cli() -> None:
    assert PAGE.read_text() == render_man(), (
        "the man page is out of date: python -m speckit_git_policy.cli.reference --man "
        f"> speckit_git_policy/{MAN_PAGE}"
    )


def test_the_man_page_names_every_command_and_setting() -> None:
    text = render_man()
    for name in cli.commands:
        assert f'.SS "git speckit\\-policy {name}' in text
    for key in ("workspace", "policyFile", "docFile", "capsule", "autoPush", "sign", "requireSigned"):
        assert f"speckit.{key}" in text
    assert manual_path() == str(PAGE)


def test_pyproject_installs_it_in_share_man_man1() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["data-files"]["share/man/man1"] == [f"speckit_git_policy/{MAN_PAGE}"]
    assert "man/*.1" in config["package-data"]["speckit_git_policy"]


def _installed_prefix(tmp_path: Path) -> dict[str, str]:
    """A prefix laid out as pip installs one (bin/ and share/man/man1/), first on the PATH;
    MANPATH unset, so man derives the manual path from the PATH, as in a virtualenv."""
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "share" / "man" / "man1").mkdir(parents=True)
    shutil.copy(PAGE, prefix / "share" / "man" / "man1" / "git-speckit-policy.1")
    script = prefix / "bin" / "git-speckit-policy"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m speckit_git_policy "$@"\n')
    script.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key not in ("MANPATH", "MANOPT")}
    env.update(PATH=f"{prefix / 'bin'}{os.pathsep}{env['PATH']}", MANPAGER="cat", PAGER="cat",
               MANWIDTH="100", GIT_PAGER="cat")
    return env


@needs_man
def test_the_real_man_finds_the_installed_page_from_the_path(tmp_path: Path) -> None:
    env = _installed_prefix(tmp_path)
    found = subprocess.run(["man", "-w", "git-speckit-policy"], capture_output=True, text=True, env=env)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == str(tmp_path / "prefix" / "share" / "man" / "man1" / "git-speckit-policy.1")


@needs_man
@pytest.mark.parametrize("argv", [["git", "help", "speckit-policy"], ["git", "speckit-policy", "--help"]])
def test_git_shows_the_manual(tmp_path: Path, argv: list[str]) -> None:
    env = _installed_prefix(tmp_path)
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    text = plain(result.stdout)
    assert "GIT-SPECKIT-POLICY(1)" in text and "NAME" in text
    assert "git speckit-policy backfill" in text and ".speckitconfig" in text


@needs_man
def test_top_level_help_opens_the_manual_on_a_terminal(tmp_path: Path) -> None:
    env = _installed_prefix(tmp_path)
    shown = plain(_on_a_terminal([sys.executable, "-m", "speckit_git_policy", "--help"], env))
    assert "GIT-SPECKIT-POLICY(1)" in shown and "NAME" in shown
    assert "Usage:" not in shown


def test_top_level_help_falls_back_to_clicks_without_man(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no man on this PATH
    shown = _on_a_terminal([sys.executable, "-m", "speckit_git_policy", "--help"], env)
    assert "Usage: git speckit-policy" in shown and "backfill" in shown


def test_help_without_a_terminal_prints_the_summary() -> None:
    for args in (["--help"], ["-h"], ["help"]):
        result = invoke(args)
        assert result.exit_code == 0 and "Usage: git speckit-policy [OPTIONS] COMMAND" in result.output


def test_help_command_prints_a_commands_help() -> None:
    result = invoke(["help", "backfill"])
    assert result.exit_code == 0 and "Usage: git speckit-policy backfill [OPTIONS]" in result.output
    assert "--since REV" in result.output
    nested = invoke(["help", "run", "stage"])
    assert nested.exit_code == 0 and "Usage: git speckit-policy run stage" in nested.output
    assert nested.output == invoke(["run", "stage", "--help"]).output


def test_help_for_an_unknown_command_suggests_one() -> None:
    result = invoke(["help", "backfil"])
    assert result.exit_code == 2 and "did you mean 'backfill'?" in result.output
    result = invoke(["help", "log", "more"])
    assert result.exit_code == 2 and "no subcommand" in result.output


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, prog_name="git speckit-policy")


def plain(text: str) -> str:
    """man's output without its overstrike (bold: "N\\bN", underline: "_\\bx")."""
    return re.sub(".\b", "", text)


def _on_a_terminal(argv: list[str], env: dict[str, str]) -> str:
    out_master, out_slave = os.openpty()
    process = subprocess.Popen(argv, stdout=out_slave, stderr=subprocess.PIPE, env=env)
    os.close(out_slave)
    chunks = []
    while True:
        try:
            chunk = os.read(out_master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(out_master)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return b"".join(chunks).decode("utf-8", "replace")
