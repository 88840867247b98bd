"""The README's first command: the demo walks the whole story in a throwaway repo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_every_step(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "speckit_git_policy", "demo", "--dir", str(tmp_path), "--cleanup"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for command in ("git speckit-policy init", "git commit", "git speckit-policy run start",
                    "git speckit-policy run stage", "git speckit-policy log",
                    "git speckit-policy trace", "git speckit-policy blame", "git speckit-policy verify"):
        assert f"$ {command}" in out, command
    assert "policy changed, replaced" in out  # the stage boundary saw the mid-run commit
    assert "Bo Budget" in out and "budgets.tokens.plan = 12000" in out  # blame names author and line
    assert "checked 3 snapshot(s): ok" in out
    # A teammate joins: clone, one command, then plain git pull. What the pull brings is
    # the sync work's (the tracking refspec install sets up): only the steps are checked here.
    for command in ("git clone -q . ../teammate", "git pull -q", "git speckit-policy run list"):
        assert f"$ {command}" in out, command
    assert out.count("$ git speckit-policy install") == 1
    assert list(tmp_path.iterdir()) == []  # --cleanup removed the throwaway repo
