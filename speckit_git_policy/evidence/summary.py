"""The Markdown summary ``validate`` and ``verify`` append to ``$GITHUB_STEP_SUMMARY``
under GitHub Actions, so a workflow run's page says what they found without opening
the log. Appended, never overwritten: other steps write to the same file.

Values are escaped as in the Markdown report (``render.markdown_text``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from speckit_git_policy.errors import SpeckitError

if TYPE_CHECKING:
    from speckit_git_policy.errors import PolicyIssue
    from speckit_git_policy.queries.verify import Report

STEP_SUMMARY = "GITHUB_STEP_SUMMARY"
_ROWS_MAX = 200  # a step summary is capped at 1 MiB; the rest is in the log and the SARIF


class SummaryNotWritten(SpeckitError):
    """``$GITHUB_STEP_SUMMARY`` names a file that cannot be appended to."""

    exit_code = 3

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"cannot append the step summary to {path}: {reason}")


def _cell(value: object) -> str:
    from speckit_git_policy.evidence.render import markdown_text

    return markdown_text("" if value is None else value)


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows[:_ROWS_MAX]]
    if len(rows) > _ROWS_MAX:
        lines.append(f"\n… and {len(rows) - _ROWS_MAX} more (see the step's log)")
    return lines


def validate_summary(issues: list[PolicyIssue]) -> str:
    if not issues:
        return "### ✅ Model policy: valid\n\nThe doc and policy lint found nothing.\n\n"
    lines = [f"### ❌ Model policy: {len(issues)} problem(s)", ""]
    lines += _table(
        ["File", "Line", "Key", "Problem"],
        [[issue.file, issue.line or "", issue.key, issue.message] for issue in issues],
    )
    return "\n".join(lines) + "\n\n"


def verify_summary(report: Report) -> str:
    broken = [problem for problem in report.problems if problem.broken]
    state = "✅ ok" if report.ok else f"❌ {len(broken)} problem(s)"
    lines = [f"### Model policy verify: {state}", ""]
    lines.append(
        f"{report.checked} snapshot(s) checked: both copies, hashes, event references, missed captures."
    )
    if report.problems:
        lines.append("")
        lines += _table(
            ["Status", "Kind", "Where", "Problem"],
            [
                ["repaired" if p.repaired else p.severity, p.kind, p.uri or p.path or "", p.message]
                for p in report.problems
            ],
        )
    if not report.ok:
        lines += [
            "",
            "Fix: `git speckit-policy verify --repair` restores a copy from the other after its hash checks out.",
        ]
    return "\n".join(lines) + "\n\n"


def append_step_summary(markdown: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """Append to ``$GITHUB_STEP_SUMMARY`` when it is set; the file's path, or None."""
    target = (environ if environ is not None else os.environ).get(STEP_SUMMARY)
    if not target:
        return None
    try:
        with open(target, "a", encoding="utf-8") as summary:
            summary.write(markdown)
    except OSError as e:
        raise SummaryNotWritten(target, e.strerror or str(e)) from e
    return Path(target)
