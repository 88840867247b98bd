"""One error base class; subclasses carry their data and build their message.

The CLI maps ``SpeckitError.exit_code`` to the process exit status in one place.
Exit codes follow docs/DESIGN.md §9: 1 = a check failed or a decision denied,
2 = bad usage or bad input (including an unknown id, run, URI or remote).
"""

from __future__ import annotations

# pathlib for type checkers only: the git hooks import this module.
TYPE_CHECKING = False
if TYPE_CHECKING:
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


class PolicyIssue:
    """One validation problem, located in a source file (immutable, comparable)."""

    __slots__ = ("file", "key", "line", "message")

    def __init__(self, file: str, line: int | None, key: str, message: str) -> None:
        object.__setattr__(self, "file", file)
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "message", message)

    file: str
    line: int | None
    key: str
    message: str

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"PolicyIssue is immutable: cannot set {name}")

    def _fields(self) -> tuple[str, int | None, str, str]:
        return (self.file, self.line, self.key, self.message)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PolicyIssue) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return "PolicyIssue(file={!r}, line={!r}, key={!r}, message={!r})".format(*self._fields())

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


class RemoteRefused(SpeckitError):
    """A remote refused a push: exit 1, with the remote's own reason."""

    exit_code = 1

    def __init__(self, remote: str, reasons: dict[str, str]) -> None:
        self.remote = remote
        self.reasons = reasons
        shown = "; ".join(f"{ref}: {reason}" for ref, reason in sorted(reasons.items())[:5])
        super().__init__(f"{remote} refused the capsule push: {shown}")


class SigningFailed(SpeckitError):
    """``speckit.sign`` is on but git could not sign a seal (no key, wrong format...)."""

    exit_code = 1

    def __init__(self, ref: str, reason: str) -> None:
        self.ref = ref
        self.reason = reason
        super().__init__(
            f"cannot sign the seal of {ref}: {reason}; speckit.sign=true needs git's SSH "
            "signing set up: git config gpg.format ssh; git config user.signingkey "
            "~/.ssh/id_ed25519.pub (or turn signing off: git config speckit.sign false)"
        )


class CapsuleRefBroken(GitError):
    """A capsule ref that does not hold a commit id: a damaged file, a symbolic ref, or
    the id of an object this repository lacks (exit 1: the check of the capsule failed)."""

    exit_code = 1

    def __init__(self, ref: str, path: str | Path, reason: str) -> None:
        self.ref = ref
        self.path = str(path)
        self.reason = reason
        super().__init__(
            f"capsule ref {ref} {reason}; nothing was written to it. Fix: move it aside "
            f"(mv '{self.path}' '{self.path}.broken'), then `git speckit-policy pull` or "
            "`git speckit-policy verify --repair` rebuilds it from a remote or from .speckit/"
        )
