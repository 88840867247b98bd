"""One error base class; subclasses carry their data and build their message.

The CLI maps ``SpeckitError.exit_code`` to the process exit status in one place.
Exit codes follow SPEC §9: 1 = a check failed or a decision denied,
2 = bad usage or bad input (including an unknown id, run, URI or remote).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class SpeckitError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(SpeckitError):
    """Input the user gave (argument, file, id) is unusable."""


class NotFound(SpeckitError):
    """An id, prefix, URI, run or remote that does not exist."""


class CheckFailed(SpeckitError):
    """A check ran and failed (exit 1)."""

    exit_code = 1


@dataclass(frozen=True)
class PolicyIssue:
    """One validation problem, located in a source file."""

    file: str
    line: int | None
    key: str
    message: str

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"

    def as_json(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "key": self.key, "message": self.message}


class PolicyInvalid(SpeckitError):
    """The policy sources failed the doc or policy lint."""

    exit_code = 1

    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = issues
        first = issues[0].render() if issues else "policy is invalid"
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(first + more)


class SnapshotCorrupt(SpeckitError):
    """A stored snapshot fails its hash or cannot be parsed."""

    exit_code = 1

    def __init__(self, where: str | Path, reason: str) -> None:
        self.where = str(where)
        self.reason = reason
        super().__init__(f"{self.where}: {reason}")


class StaleLock(SpeckitError):
    """A lock file left behind by a killed process blocks a write."""

    exit_code = 1

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        super().__init__(
            f"{self.path} is locked and the lock looks stale (left by a killed process?); "
            f"if no git or speckit process is running, remove it: rm '{self.path}'"
        )


class GitError(SpeckitError):
    """git itself failed or the directory is not a git repository."""
