"""Find and read the policy source files from the work tree, the index or a commit.

Three places the sources can come from (SPEC §5): the working tree (``capture`` by
hand, ``validate``), the index (the pre-commit hook validates what will be
committed, honouring ``GIT_INDEX_FILE``) and a commit's tree (post-commit capture,
which must not read the working tree: the two differ after a partial commit).
Every read is size-checked first so that a huge file costs bounded memory, and a
symlink that leads outside the repository is refused.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInput, PolicyInvalid, PolicyIssue
from .gitio import GitRepo

DEFAULT_POLICY_FILE = "model_policy.toml"
DEFAULT_DOC_FILE = "docs/MODEL-POLICY.md"
MAX_SOURCE_BYTES = 1024 * 1024  # a policy is a few KiB; 1 MiB leaves room and bounds memory

WORKTREE = "worktree"
INDEX = "index"


@dataclass(frozen=True)
class SourcePaths:
    policy: str
    doc: str

    def all(self) -> list[str]:
        return sorted({self.policy, self.doc})


@dataclass(frozen=True)
class Sources:
    """The bytes of every source file, and where they were read from."""

    paths: SourcePaths
    files: dict[str, bytes]
    origin: str  # "worktree", "index" or a commit SHA

    @property
    def policy_bytes(self) -> bytes:
        return self.files[self.paths.policy]


def _check_repo_path(value: str, setting: str) -> str:
    normalized = posixpath.normpath(value.replace("\\", "/"))
    if (
        not value
        or normalized.startswith("../")
        or normalized == ".."
        or posixpath.isabs(normalized)
        or normalized == "."
    ):
        raise BadInput(f"git config {setting}={value!r}: must be a path inside the repository")
    return normalized


def source_paths(repo: GitRepo) -> SourcePaths:
    """Source paths from git config (``speckit.policyFile``, ``speckit.docFile``) or defaults."""
    policy = repo.config_get("speckit.policyFile") or DEFAULT_POLICY_FILE
    doc = repo.config_get("speckit.docFile") or DEFAULT_DOC_FILE
    return SourcePaths(
        policy=_check_repo_path(policy, "speckit.policyFile"),
        doc=_check_repo_path(doc, "speckit.docFile"),
    )


def _too_big(path: str, size: int) -> PolicyIssue:
    return PolicyIssue(
        path, None, "", f"file is {size} bytes; a policy source may be at most {MAX_SOURCE_BYTES}"
    )


def _missing(path: str) -> PolicyIssue:
    return PolicyIssue(path, None, "", "required policy source file is missing")


def _read_worktree_file(root: Path, path: str) -> bytes | PolicyIssue:
    full = root / path
    target = full.resolve()
    if not target.is_relative_to(root.resolve()):
        return PolicyIssue(path, None, "", f"is a symlink leading outside the repository ({target})")
    try:
        # O_NOFOLLOW is not used: in-repo symlinks are allowed, escaping ones refused above.
        # O_NONBLOCK: a FIFO planted as a source must not hang the hook.
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return _missing(path)
    except IsADirectoryError:
        return PolicyIssue(path, None, "", "is a directory, expected a file")
    except OSError as e:
        return PolicyIssue(path, None, "", f"cannot be read: {e.strerror}")
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return PolicyIssue(path, None, "", "is a directory, expected a file")
        if not stat.S_ISREG(info.st_mode):
            return PolicyIssue(path, None, "", "is not a regular file")
        if info.st_size > MAX_SOURCE_BYTES:
            return _too_big(path, info.st_size)
        chunks = []
        remaining = MAX_SOURCE_BYTES + 1
        while remaining > 0:
            chunk = os.read(fd, remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > MAX_SOURCE_BYTES:
        return _too_big(path, len(data))
    return data


def _read_git_entry(repo: GitRepo, path: str, entry: tuple[str, str] | None, origin: str,
                    lookup: object, depth: int = 0) -> bytes | PolicyIssue:
    if entry is None:
        return _missing(path) if depth == 0 else PolicyIssue(path, None, "", "symlink target is missing")
    mode, obj = entry
    if mode == "120000":
        target = repo.read_blob(obj).decode("utf-8", "replace")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        if posixpath.isabs(target) or resolved.startswith("../") or resolved == "..":
            return PolicyIssue(path, None, "", f"is a symlink leading outside the repository ({target})")
        if depth >= 8:
            return PolicyIssue(path, None, "", "too many levels of symlinks")
        assert callable(lookup)
        return _read_git_entry(repo, path, lookup(resolved), origin, lookup, depth + 1)
    if not mode.startswith("100"):
        return PolicyIssue(path, None, "", f"is not a regular file in {origin}")
    size = repo.blob_size(obj)
    if size > MAX_SOURCE_BYTES:
        return _too_big(path, size)
    return repo.read_blob(obj)


def read_sources(repo: GitRepo, origin: str = WORKTREE, paths: SourcePaths | None = None) -> Sources:
    """Read every source file from ``origin`` ("worktree", "index" or a commit SHA).

    Raises PolicyInvalid (doc lint) listing every file that is missing, too big or
    unsafe; nothing is read beyond MAX_SOURCE_BYTES.
    """
    paths = paths or source_paths(repo)
    files: dict[str, bytes] = {}
    issues: list[PolicyIssue] = []
    for path in paths.all():
        result: bytes | PolicyIssue
        if origin == WORKTREE:
            result = _read_worktree_file(repo.root, path)
        elif origin == INDEX:
            result = _read_git_entry(repo, path, repo.index_entry(path), "the index", repo.index_entry)
        else:
            def in_tree(p: str, commit: str = origin) -> tuple[str, str] | None:
                entry = repo.tree_entry(commit, p)
                return (entry[0], entry[1]) if entry else None

            result = _read_git_entry(repo, path, in_tree(path), f"commit {origin[:12]}", in_tree)
        if isinstance(result, PolicyIssue):
            issues.append(result)
        else:
            files[path] = result
    if issues:
        raise PolicyInvalid(issues)
    return Sources(paths=paths, files=files, origin=origin)
