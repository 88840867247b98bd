"""The rows of ``list``, kept from one listing to the next and used again only for
inputs proven unchanged.

A snapshot's row (its hash, creation time and first bound commit, or nothing when
its document does not parse) is a function of four inputs and of the code that
reads them: the filesystem copy of the snapshot, its filesystem binding log, the
capsule's snapshot blob and the capsule's bindings blob. At 10,000 snapshots
reading them is 20,000 files, 10,000 blobs and 30,000 JSON documents (2.9 s). This
cache keeps each row beside the names of its inputs, and a listing reads again only
the snapshots whose inputs changed (a capture: one):

* a capsule blob is named by its object id, which names its content exactly; the
  policy ref's commit names its whole tree, so while the ref holds the commit the
  cache was made at, the capsule's leaves are taken from the cache (no ``ls-tree``);
* a file is named by its stat signature (inode, size, mtime and ctime in ns), as
  git's index names the work tree's files: any write through the file system moves
  the ctime, and the tool replaces files by rename (a new inode) or appends to them
  (a new size). A file changed in the last ``SETTLE_NS`` before it was read is not
  kept (git's "racily clean" entries): a second change within the same timestamp
  tick would otherwise keep the signature.

So a kept row is used only where recomputing it would give the same row, with one
hidden cost named: a file rewritten in place behind the tool's back with the same
size, inode, mtime *and* ctime (which takes setting the clock back, or a file
system that keeps no ctime) would list its old row until the file changes again;
``verify`` reads every copy and reports such a file either way. The cache is
``<git dir>/speckit/list-cache.json`` (about 400 bytes a snapshot), one per work
tree; it is written without fsync (a torn one is ignored and rebuilt) and only when
a row changed, and a read-only repository simply lists without it. Rows made by
other code (another tool version, an edited module) are never used.
"""

from __future__ import annotations

import json
import os

from speckit_git_policy import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from speckit_git_policy.git.repo import GitRepo

FORMAT = 1
SETTLE_NS = 3 * 10**9  # coarser than any file system's timestamp tick
# The modules whose code decides a row: an edit of any of them (an editable install)
# makes every kept row unusable.
ROW_MODULES = (
    "queries/snapshots.py",
    "queries/list_cache.py",
    "store/bindings.py",
    "store/fs.py",
    "store/capsule/bulk.py",
    "canonical.py",
)
UNKEPT = "?"  # the signature of a file too fresh to keep: no key holding it is kept

# An entry: [files key, capsule key, row, note]. The files key is the signatures of
# the snapshot's file and of its binding log, "|"-joined ("" for an absent file); the
# capsule key "<blob id>:<size>" of its snapshot blob and of its bindings blob, the
# same way. row is [hash, created_at, commit] or None (not listed); note what the
# reader said of the bindings blob (skipped), or None.
Entry = list[object]
NO_BLOBS = "|"


def cache_path(repo: GitRepo) -> str:
    return os.path.join(repo.git_dir, "speckit", "list-cache.json")


def code_identity(modules: tuple[str, ...]) -> list[str]:
    """The tool version and the size and mtime of each module (paths in the package):
    what a kept document must have been made by to be used."""
    from speckit_git_policy.fileio import code_fingerprint

    return [__version__, *code_fingerprint(modules)]


def _code() -> list[str]:
    return code_identity(ROW_MODULES)


def read_kept(path: str, identity: dict[str, object]) -> dict[str, object] | None:
    """The document kept at ``path`` when it is a JSON object made with ``identity``
    (its items are in it); None for anything else (none, torn, another version's)."""
    try:
        with open(path, "rb") as handle:
            kept = json.loads(handle.read())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(kept, dict) or any(kept.get(k) != v for k, v in identity.items()):
        return None
    return kept


def write_kept(path: str, document: dict[str, object]) -> None:
    """Keep ``document`` at ``path`` (atomically, without fsync: a torn one reads as
    none); a repository that refuses the write goes without."""
    from speckit_git_policy.fileio import atomic_write

    data = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        atomic_write(path, data, durable=False)
    except OSError:
        pass  # a read-only .git, a full disk: the next listing reads everything again


def capsule_key(snapshot: tuple[str, int] | None, bindings: tuple[str, int] | None) -> str:
    return "|".join(
        f"{leaf[0]}:{leaf[1]}" if leaf is not None else "" for leaf in (snapshot, bindings)
    )


class ListCache:
    """The kept rows of one work tree's listing (empty when there are none to use)."""

    def __init__(self, identity: dict[str, object], tip: str | None, entries: dict[str, Entry]):
        self.identity = identity
        self.tip = tip
        self.entries = entries

    @classmethod
    def load(cls, repo: GitRepo, workspace: str | None) -> ListCache:
        identity: dict[str, object] = {
            "format": FORMAT,
            "code": _code(),
            "work_tree": os.fspath(repo.root),
            "workspace": workspace,
        }
        kept = read_kept(cache_path(repo), identity)
        if kept is None or not isinstance(kept.get("entries"), dict):
            return cls(identity, None, {})
        tip, entries = kept.get("tip"), kept["entries"]
        assert isinstance(entries, dict)
        return cls(identity, tip if isinstance(tip, str) else None, entries)

    def policy_ids(self, found: dict[str, str]) -> dict[str, str]:
        """``found`` (from ``signatures``) without the names that are not policy ids
        (a name kept in the cache was checked when it was kept)."""
        from speckit_git_policy.ids import is_policy_id

        kept = self.entries
        return {key: value for key, value in found.items() if key in kept or is_policy_id(key)}

    def capsule_keys(self) -> dict[str, str] | None:
        """policy id -> capsule key of every kept entry that has a blob: what the policy
        tree held at ``tip``; None when an entry is not one this code writes."""
        found: dict[str, str] = {}
        for policy_id, entry in self.entries.items():
            if type(entry) is not list or len(entry) != 4 or type(entry[1]) is not str:
                return None
            if entry[1] != NO_BLOBS:
                found[policy_id] = entry[1]
        return found

    def save(self, repo: GitRepo, tip: str | None, entries: dict[str, Entry]) -> None:
        """Keep ``entries`` (only when they differ from what is kept); a repository
        that refuses the write lists without a cache."""
        if tip != self.tip or entries != self.entries:
            write_kept(cache_path(repo), {**self.identity, "tip": tip, "entries": entries})


def signatures(directory: str, prefix: str, suffix: str, settled: int) -> dict[str, str]:
    """name between ``prefix`` and ``suffix`` -> stat signature of every such entry of
    ``directory``; ``UNKEPT`` for one that is not a regular file or changed after
    ``settled`` (ns since the epoch)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return {}
    found: dict[str, str] = {}
    fd = os.open(directory, os.O_RDONLY)
    try:
        for name in names:
            if not (name.startswith(prefix) and name.endswith(suffix)):
                continue
            key = name[len(prefix) : len(name) - len(suffix)]
            try:
                info = os.stat(name, dir_fd=fd)
            except FileNotFoundError:
                continue  # removed a moment ago
            if (
                info.st_mode & 0o170000 != 0o100000
                or info.st_ctime_ns >= settled
                or info.st_mtime_ns >= settled
            ):
                found[key] = UNKEPT
            else:
                found[key] = f"{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"
    finally:
        os.close(fd)
    return found


# ---- run list: the digests of each run directory, by its tree id ------------------------
# What decides a run directory's digests (store/capsule/bulk.py run_listing).
RUN_MODULES = (
    "queries/list_cache.py",
    "store/capsule/bulk.py",
    "store/capsule/runsummary.py",
    "ids.py",
)


class RunListCache:
    """What ``run_listing`` found in each ``<h2>`` run directory under a fresh summary,
    by ``directory_key`` (its place and tree id: a tree names its summary and every
    run under it, so a kept directory is exactly what reading it again would give).
    At 100,000 runs reading them is 4,096 summaries (36 MB of JSON through git, then
    100,000 entries checked); kept, their digests load as flat lists (17 MB). One file
    per run shard, ``<git common dir>/speckit/run-list/<workspace>/<xx>.json``, so that
    an append rewrites one shard's (about 1/256 of them); written without fsync, only
    when a shard's directories changed."""

    def __init__(self, directory: str, kept: dict[str, dict[str, list[list[Any]]]]):
        self.directory = directory
        self.identity: dict[str, object] = {"format": FORMAT, "code": code_identity(RUN_MODULES)}
        self.kept = kept  # shard -> directory key -> [flat digests, run ids without one]

    @classmethod
    def load(cls, repo: GitRepo, workspace: str) -> RunListCache:
        directory = os.path.join(repo.common_dir, "speckit", "run-list", workspace)
        cache = cls(directory, {})
        try:
            names = os.listdir(directory)
        except OSError:
            return cache
        for name in names:
            shard = name.removesuffix(".json")
            if len(shard) != 2 or not name.endswith(".json"):
                continue
            kept = read_kept(os.path.join(directory, name), cache.identity)
            found = kept.get("directories") if kept is not None else None
            if isinstance(found, dict) and all(_is_directory(value) for value in found.values()):
                cache.kept[shard] = found
        return cache

    def directories(self) -> dict[str, list[list[Any]]]:
        return {key: value for found in self.kept.values() for key, value in found.items()}

    def save(self, directories: dict[str, list[list[Any]]]) -> None:
        by_shard: dict[str, dict[str, list[list[Any]]]] = {}
        for key, value in directories.items():
            by_shard.setdefault(key[:2], {})[key] = value
        for shard, found in by_shard.items():
            if self.kept.get(shard) != found:
                path = os.path.join(self.directory, f"{shard}.json")
                write_kept(path, {**self.identity, "directories": found})
        for shard in set(self.kept) - set(by_shard):
            try:
                os.unlink(os.path.join(self.directory, f"{shard}.json"))
            except OSError:
                pass


def _is_directory(value: object) -> bool:
    """[flat digests, run ids] as ``run_listing`` gives them for one directory."""
    from speckit_git_policy.store.capsule.bulk import RECORD

    return (
        type(value) is list
        and len(value) == 2
        and type(value[0]) is list
        and len(value[0]) % RECORD == 0
        and all(type(run_id) is str for run_id in value[0][::RECORD])
        and type(value[1]) is list
        and all(type(run_id) is str for run_id in value[1])
    )
