"""Who may do what: only the git layer starts git, only the capsule's object module
imports dulwich, and the CLI's pager follows the command's repository (``-C``)."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

from conftest import REPO_ROOT, git

from speckit_git_policy.cli import cli

PACKAGE = REPO_ROOT / "speckit_git_policy"
# Runs the commands a user would type in a throwaway repository, on purpose (see its docstring).
USER_COMMANDS = {"demo.py"}


def modules() -> list[tuple[str, ast.Module]]:
    return [(str(path.relative_to(PACKAGE)), ast.parse(path.read_text(), str(path)))
            for path in sorted(PACKAGE.rglob("*.py"))]


def starts_git(node: ast.Call) -> bool:
    """A process call (subprocess.*, os.posix_spawn, os.exec*) whose command is git."""
    name = ast.unparse(node.func)
    spawns = name.startswith(("subprocess.", "os.exec")) or name in (
        "os.posix_spawn", "os.posix_spawnp", "Popen", "run", "check_output", "check_call", "call")
    if not spawns:
        return False
    return any(isinstance(arg, ast.List) and arg.elts and isinstance(arg.elts[0], ast.Constant)
               and arg.elts[0].value == "git" for arg in node.args)


def test_only_the_git_layer_starts_git() -> None:
    offenders = []
    for name, tree in modules():
        if name.startswith("git/") or name in USER_COMMANDS:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and starts_git(node):
                offenders.append(f"{name}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module == "speckit_git_policy.git.process":
                offenders.append(f"{name}:{node.lineno} imports run_git")
    assert offenders == []


def test_the_check_sees_a_git_call() -> None:
    call = ast.parse('subprocess.run(["git", "config", "--get", "core.pager"])').body[0]
    assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call) and starts_git(call.value)


def test_only_the_capsule_object_module_imports_dulwich() -> None:
    importers = set()
    for name, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "dulwich" for a in node.names):
                importers.add(name)
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "dulwich":
                importers.add(name)
    assert importers == {"store/capsule/objects.py"}


def test_the_pager_is_the_one_configured_in_the_repository_of_dash_c(policy_repo: Path, tmp_path: Path) -> None:
    """Started elsewhere, ``-C <repo>`` pages with that repository's core.pager, as git would."""
    from click.testing import CliRunner

    assert CliRunner().invoke(cli, ["-C", str(policy_repo), "capture"]).exit_code == 0
    pager = tmp_path / "pager.sh"
    pager.write_text("#!/bin/sh\nsed 's/^/paged: /'\n")
    pager.chmod(0o755)
    git(policy_repo, "config", "core.pager", str(pager))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "GIT_PAGER"}
    env.update(PAGER="cat", TERM="xterm", LINES="1", COLUMNS="200", NO_COLOR="1")
    out_master, out_slave = os.openpty()
    process = subprocess.Popen(["git", "speckit-policy", "-C", str(policy_repo), "list"], cwd=elsewhere,
                               stdout=out_slave, stderr=subprocess.PIPE, env=env)
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
    assert "paged: " in b"".join(chunks).decode("utf-8", "replace")
