"""Terminal manners: progress and colour only on a terminal, never with NO_COLOR,
and nothing extra when piped."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from click.testing import CliRunner

from speckit_git_policy.cli import cli


def _run_on_terminal(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[str, str]:
    """Run with stdout and stderr on a pseudo-terminal each; return what each showed."""
    out_master, out_slave = os.openpty()
    err_master, err_slave = os.openpty()
    full_env = {**os.environ, "PAGER": "cat", "GIT_PAGER": "cat", "TERM": "xterm", **(env or {})}
    process = subprocess.Popen(args, cwd=cwd, stdout=out_slave, stderr=err_slave, env=full_env)
    os.close(out_slave)
    os.close(err_slave)
    process.wait(timeout=60)

    def drain(fd: int) -> str:
        chunks = []
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(fd)
        return b"".join(chunks).decode("utf-8", "replace")

    return drain(out_master), drain(err_master)


def test_progress_on_a_terminal_only(policy_repo: Path) -> None:
    assert CliRunner().invoke(cli, ["-C", str(policy_repo), "capture"]).exit_code == 0
    _, err = _run_on_terminal(["git", "speckit-policy", "verify"], policy_repo)
    assert "verifying snapshots: 1/1 (100%)" in err
    piped = subprocess.run(["git", "speckit-policy", "verify"], cwd=policy_repo, capture_output=True, text=True)
    assert piped.returncode == 0 and "verifying" not in piped.stderr


def test_colour_on_a_terminal_but_not_with_no_color(policy_repo: Path) -> None:
    assert CliRunner().invoke(cli, ["-C", str(policy_repo), "capture"]).exit_code == 0
    out, _ = _run_on_terminal(["git", "speckit-policy", "list"], policy_repo)
    assert "\x1b[" in out
    out, _ = _run_on_terminal(["git", "speckit-policy", "list"], policy_repo, {"NO_COLOR": "1"})
    assert "\x1b[" not in out and out.strip()
    piped = subprocess.run(["git", "speckit-policy", "list"], cwd=policy_repo, capture_output=True, text=True)
    assert "\x1b[" not in piped.stdout and piped.stdout.strip()
