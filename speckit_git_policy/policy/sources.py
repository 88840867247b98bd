"""Find and read the policy source files from the work tree, the index or a commit.

Three places the sources can come from (docs/DESIGN.md §5): the working tree
(``capture`` by hand, ``validate``; a source a sparse checkout leaves out is read
from the index, as git status sees it), the index (the pre-commit hook validates what will be
committed, honouring ``GIT_INDEX_FILE``) and a commit's tree (post-commit capture,
which must not read the working tree: the two differ after a partial commit).
Every read is size-checked first so that a huge file costs bounded memory, and a
symlink that leads outside the repository is refused.
"""

from __future__ import annotations

import os
import posixpath
import stat

from speckit_git_policy.errors import BadInput, PolicyInvalid, PolicyIssue
from speckit_git_policy.git.plumbing import (
    index_entries,
    read_objects,
    skip_worktree_paths,
    tree_entries,
)
from speckit_git_policy.git.repo import GitRepo

DEFAULT_POLICY_FILE = "model_policy.toml"
DEFAULT_DOC_FILE = "docs/MODEL-POLICY.md"
MAX_SOURCE_BYTES = 1024 * 1024  # a policy is a few KiB; 1 MiB leaves room and bounds memory

WORKTREE = "worktree"
INDEX = "index"


class SourcePaths:
    """Where the two source files are, relative to the work tree."""

    def __init__(self, policy: str, doc: str) -> None:
        self.policy = policy
        self.doc = doc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SourcePaths) and (self.policy, self.doc) == (
            other.policy,
            other.doc,
        )

    def __hash__(self) -> int:
        return hash((self.policy, self.doc))

    def __repr__(self) -> str:
        return f"SourcePaths(policy={self.policy!r}, doc={self.doc!r})"

    def all(self) -> list[str]:
        return sorted({self.policy, self.doc})


class Sources:
    """The bytes of every source file, and where they were read from."""

    def __init__(
        self,
        paths: SourcePaths,
        files: dict[str, bytes],
        origin: str,
        blob_ids: dict[str, str] | None = None,
    ) -> None:
        self.paths = paths
        self.files = files
        self.origin = origin  # "worktree", "index" or a commit SHA
        # path -> git blob id when every file was read from the index or a commit as a
        # regular file (no symlink followed): what the compiled cache is keyed by.
        self.blob_ids = blob_ids

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
    # One git call for both settings (the hooks pay for every process); like
    # ``git config --get``, the last value of a key wins and an empty one means unset.
    found = repo.speckit_config()
    policy = (found.get("speckit.policyfile") or "").strip() or DEFAULT_POLICY_FILE
    doc = (found.get("speckit.docfile") or "").strip() or DEFAULT_DOC_FILE
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


def _read_worktree_file(root: str, path: str) -> bytes | PolicyIssue:
    from speckit_git_policy.fileio import is_within

    full = os.path.join(root, path)
    if not is_within(full, os.path.realpath(root)):
        target = os.path.realpath(full)
        return PolicyIssue(
            path, None, "", f"is a symlink leading outside the repository ({target})"
        )
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


def _read_git_entry(
    repo: GitRepo,
    path: str,
    entry: tuple[str, str] | None,
    origin: str,
    lookup: object,
    depth: int = 0,
) -> bytes | PolicyIssue:
    if entry is None:
        return (
            _missing(path)
            if depth == 0
            else PolicyIssue(path, None, "", "symlink target is missing")
        )
    mode, obj = entry
    if mode == "120000":
        target = repo.read_blob(obj).decode("utf-8", "replace")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        if posixpath.isabs(target) or resolved.startswith("../") or resolved == "..":
            return PolicyIssue(
                path, None, "", f"is a symlink leading outside the repository ({target})"
            )
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


def git_entries(
    repo: GitRepo, origin: str, paths: list[str]
) -> dict[str, tuple[str, str, int | None]]:
    """path → (mode, object id, size or None when unknown) in the index or a commit's
    tree, for every path present, in one git call."""
    if origin == INDEX:
        return index_entries(repo, paths)
    return tree_entries(repo, origin, paths)


def regular_blob_ids(
    entries: dict[str, tuple[str, str, int | None]], paths: list[str]
) -> dict[str, str] | None:
    """path -> blob id when every path is a regular file in ``entries``, else None."""
    if set(entries) != set(paths) or not all(
        mode.startswith("100") for mode, _, _ in entries.values()
    ):
        return None
    return {path: obj for path, (_mode, obj, _size) in entries.items()}


def _read_git_files(
    repo: GitRepo, origin: str, paths: list[str], entries: dict[str, tuple[str, str, int | None]]
) -> dict[str, bytes | PolicyIssue]:
    """Every source from the index or a commit in two git calls (not three per file)."""
    where = "the index" if origin == INDEX else f"commit {origin[:12]}"
    regular = {path: entry for path, entry in entries.items() if entry[0].startswith("100")}
    sizes = {obj: size for _mode, obj, size in regular.values() if size is not None}
    unknown = sorted({obj for _mode, obj, size in regular.values() if size is None})
    contents: dict[str, bytes] = {}
    if unknown:
        # The index gives no sizes: one cat-file --batch tells each size before its
        # contents and is stopped before a blob over the limit is read.
        from speckit_git_policy.git.batch import ObjectReader

        with ObjectReader(repo.common_dir) as reader:
            for info in reader.read_capped(unknown, MAX_SOURCE_BYTES):
                if info is not None:
                    sizes[info.oid] = info.size
                    if info.data is not None:
                        contents[info.oid] = info.data
    wanted = sorted(
        {
            obj
            for _mode, obj, _size in regular.values()
            if sizes.get(obj, 0) <= MAX_SOURCE_BYTES and obj not in contents
        }
    )
    # Only blobs within the limit are asked for: a huge file costs bounded memory.
    contents.update(
        {
            info.oid: info.data
            for info in read_objects(repo, wanted)
            if info is not None and info.data is not None
        }
    )
    results: dict[str, bytes | PolicyIssue] = {}
    for path in paths:
        entry = entries.get(path)
        if entry is None or path not in regular:
            # Missing, a symlink (followed inside the repo), a directory or a submodule:
            # the careful one-entry-at-a-time path.
            found = (entry[0], entry[1]) if entry is not None else None
            results[path] = _read_git_entry(repo, path, found, where, _lookup(repo, origin))
        elif sizes.get(entry[1], 0) > MAX_SOURCE_BYTES:
            results[path] = _too_big(path, sizes[entry[1]])
        elif entry[1] in contents:
            results[path] = contents[entry[1]]
        else:
            results[path] = PolicyIssue(path, None, "", f"cannot be read from {where}")
    return results


def _lookup(repo: GitRepo, origin: str) -> object:
    def entry_of(path: str) -> tuple[str, str] | None:
        entry = git_entries(repo, origin, [path]).get(path)
        return (entry[0], entry[1]) if entry else None

    return entry_of


def read_sources(
    repo: GitRepo,
    origin: str = WORKTREE,
    paths: SourcePaths | None = None,
    entries: dict[str, tuple[str, str, int | None]] | None = None,
) -> Sources:
    """Read every source file from ``origin`` ("worktree", "index" or a commit SHA).

    ``entries`` is what ``git_entries`` gave for ``origin`` when the caller asked
    already. Raises PolicyInvalid (doc lint) listing every file that is missing,
    too big or unsafe; nothing is read beyond MAX_SOURCE_BYTES.
    """
    paths = paths or source_paths(repo)
    names = paths.all()
    blob_ids = None
    if origin == WORKTREE:
        results = {path: _read_worktree_file(repo.root, path) for path in names}
        absent = [path for path in names if not os.path.lexists(os.path.join(repo.root, path))]
        sparse = skip_worktree_paths(repo, absent)
        if sparse:
            # Left out of the work tree by a sparse checkout, not deleted: the index holds
            # what the work tree would (git status shows no change for it either).
            results.update(_read_git_files(repo, INDEX, sparse, index_entries(repo, sparse)))
    else:
        if entries is None:
            entries = git_entries(repo, origin, names)
        results = _read_git_files(repo, origin, names, entries)
        blob_ids = regular_blob_ids(entries, names)
    files: dict[str, bytes] = {}
    issues: list[PolicyIssue] = []
    for path in names:
        result = results[path]
        if isinstance(result, PolicyIssue):
            issues.append(result)
        else:
            files[path] = result
    if issues:
        raise PolicyInvalid(issues)
    return Sources(paths=paths, files=files, origin=origin, blob_ids=blob_ids)
