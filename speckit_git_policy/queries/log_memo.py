"""The whole ``log`` of a history kept beside the names of everything it was made from,
and given again while all of them are unchanged.

``log`` of a whole history (``log``, ``log --json``: no ``-n``, no ``--all``) is a
function of the commits git walks, of the two stores' bytes and of the code. The
content-addressed index (``history_index``) spares it the parsing, but each run still
loads that index, reads 20,000 files and looks up 30,000 keys at 10,000 snapshots. This
memo keeps the entries themselves, each without its commit's author, date and subject
(git gives those with the walk, every time), under a key made of:

* the code (the tool version, the Python version, the size and mtime of every module
  the entries come from) and the workspace, source paths and store directories;
* the commit ids git walked, in order (the walk itself runs every time: a moved branch,
  a replaced commit or a deepened clone is a new walk);
* the capsule's ``snapshots`` and ``bindings`` tree ids (a tree id names every path,
  mode and blob below it) as the policy ref holds them now;
* the stat signature of every snapshot file and binding log (``list_cache.signatures``:
  inode, size, mtime and ctime in ns, as git's index names the work tree's files).

A run whose key is the kept one gives the kept entries; any other computes them and keeps
them for the next. Nothing is kept when a file changed in the last ``SETTLE_NS`` (its
signature could stay the same through a second change in one tick) or when reading the
capsule said something (a skipped blob: the note is said by the run that reads it).

The hidden cost is ``list``'s: a store file rewritten in place behind the tool's back
with the same size, inode, mtime and ctime (setting the clock back, or a file system that
keeps no ctime) shows its old entries until something else changes; ``verify`` reads every
copy either way. The memo is ``<git dir>/speckit/log-memo`` (one per work tree, as the
filesystem store is): the key, then the entries in ``marshal``, written without fsync (a
torn one is ignored), and not at all when the policy ref moved while they were computed.
A file that starts with another key is not unmarshalled, and kept entries are used only
when each has the shape the log makes.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store import Stores
from speckit_git_policy.store.capsule.bulk import notes_said

TYPE_CHECKING = False
if TYPE_CHECKING:
    from speckit_git_policy.git.plumbing import CommitInfo

FORMAT = 2
# The modules whose code decides the entries kept.
MODULES = (
    "queries/history.py",
    "queries/history_index.py",
    "queries/log_memo.py",
    "queries/list_cache.py",
    "snapshot.py",
    "canonical.py",
    "store/bindings.py",
    "store/fs.py",
    "store/capsule/bulk.py",
    "git/plumbing.py",
    "git/batch.py",
    "git/repo.py",
    "ids.py",
    "fileio.py",
    "policy/sources.py",
    "store/__init__.py",
    "store/capsule/layout.py",
)

# A kept entry: (policy id, commit, hash, changed keys).
Kept = tuple[str, str, Any, list[str]]


class LogMemo:
    """The key of a whole log of ``start``'s history as things stand, the walk's commit
    infos (git's, in its order), and the entries kept under that key if any."""

    def __init__(self, repo: GitRepo, stores: Stores, start: str, paths: list[str]) -> None:
        from speckit_git_policy.git.plumbing import walk_infos
        from speckit_git_policy.queries.history_index import Background

        self.repo = repo
        self.path = os.path.join(repo.git_dir, "speckit", "log-memo")
        walking = Background(walk_infos, repo, start, paths)  # git walks while files are stated
        identity = self._identity(stores, start, paths)
        files = self._signatures(stores)
        self._workspace = stores.capsule_workspace
        self._tops = tops = self._capsule_trees(repo, self._workspace)
        self.infos: dict[str, CommitInfo] = {info["commit"]: info for info in walking.result()}
        self.keepable = files is not None and tops is not None
        digest = hashlib.sha256()
        for part in (*identity, files or "?", tops or "?", " ".join(self.infos)):
            digest.update(b"%d:%s" % (len(part), part.encode("utf-8", "surrogateescape")))
        self.key = digest.digest()
        self._notes = len(notes_said(repo))

    @staticmethod
    def _identity(stores: Stores, start: str, paths: list[str]) -> list[str]:
        import sys

        from speckit_git_policy import __version__
        from speckit_git_policy.fileio import code_fingerprint

        return [
            str(FORMAT),
            __version__,
            sys.version,
            *code_fingerprint(MODULES),
            start,
            *paths,
            str(stores.capsule_workspace),
            os.fspath(stores.fs.policies),
            os.fspath(stores.fs.binding_logs),
        ]

    @staticmethod
    def _signatures(stores: Stores) -> str | None:
        """Every store file's name and stat signature, in one text; None when one of
        them is too fresh (or not a plain file) to be named by its signature."""
        import time

        from speckit_git_policy.queries.list_cache import SETTLE_NS, UNKEPT, signatures

        settled = time.time_ns() - SETTLE_NS
        lines = []
        for directory, prefix, suffix in (
            (os.fspath(stores.fs.policies), "snapshot-", ".json"),
            (os.fspath(stores.fs.binding_logs), "", ".jsonl"),
        ):
            found = signatures(directory, prefix, suffix, settled)
            if UNKEPT in found.values() or any("\n" in name for name in found):
                return None  # too fresh; a name that would read as two lines
            lines.append("\n".join(sorted(f"{name} {sig}" for name, sig in found.items())))
        return "\n\n".join(lines)

    @staticmethod
    def _capsule_trees(repo: GitRepo, workspace: str | None) -> str | None:
        """The policy tree's top-level names and tree ids ("off" without a capsule, ""
        before its first snapshot); None when they cannot be read so."""
        if workspace is None:
            return "off"
        from speckit_git_policy.store.capsule.bulk import PolicyTree

        with PolicyTree(repo, workspace) as tree:
            tops = tree.top_trees()
        return " ".join(tops) if tops is not None else None

    def entries(self) -> list[Kept] | None:
        """The entries kept under this key, or None. The file starts with its key, so
        that another's is not unmarshalled; and what it holds is used only when every
        entry has the shape the log makes (the file is in ``.git``, but nothing read is
        trusted to be what this code wrote)."""
        import marshal

        try:
            with open(self.path, "rb") as handle:
                if handle.read(len(self.key)) != self.key:
                    return None
                stored = marshal.loads(handle.read())
        except (OSError, ValueError, EOFError, TypeError):
            return None
        if not isinstance(stored, list) or not all(self._well_made(e) for e in stored):
            return None
        return stored

    def _well_made(self, entry: object) -> bool:
        from speckit_git_policy.ids import is_policy_id

        return (
            type(entry) is tuple
            and len(entry) == 4
            and is_policy_id(entry[0])
            and entry[1] in self.infos
            and _is_json(entry[2])
            and type(entry[3]) is list
            and all(type(key) is str for key in entry[3])
        )

    def save(self, entries: list[Kept]) -> None:
        """Keep ``entries`` under this key, when nothing in it could be stale and reading
        said nothing; a cache: a failed write costs the next run the computing."""
        import marshal

        from speckit_git_policy.fileio import atomic_write

        if not self.keepable or len(notes_said(self.repo)) != self._notes:
            return
        if self._capsule_trees(self.repo, self._workspace) != self._tops:
            return  # the policy ref moved meanwhile: the entries may be of its new trees
        try:
            atomic_write(self.path, self.key + marshal.dumps(entries), durable=False)
        except (OSError, ValueError):
            pass  # a read-only .git, a full disk; ValueError: a hash marshal cannot hold


def _is_json(value: object, depth: int = 0) -> bool:
    """Whether ``value`` is what JSON parsing gives (a document's hash, as the log shows
    it: a text unless the document is corrupt)."""
    if value is None or type(value) in (str, int, float, bool):
        return True
    if depth > 64:
        return False
    if type(value) is list:
        return all(_is_json(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(type(k) is str and _is_json(v, depth + 1) for k, v in value.items())
    return False
