"""Reading many capsule objects at once, through git in bulk (no dulwich).

A listing of every snapshot or binding read through dulwich costs one Python object
lookup per tree and per blob (at 10,000 snapshots, about 20,000 of them, 2.6 s for
``list``); git lists every leaf of the policy tree with one ``ls-tree -r`` and reads
every blob through one ``cat-file --batch`` in a tenth of that. This module is that
path: it knows the layout (``layout.py``) and nothing of dulwich, so a query that
only reads (``list``, ``log``) never imports it.

Blobs bigger than the capsule's limits are not read (``ls-tree -l`` gives their size):
they come back as None, like a missing one, and ``verify`` is what reports them.
"""

from __future__ import annotations

import os
import re

from speckit_git_policy.git.batch import ObjectReader
from speckit_git_policy.git.plumbing import is_object_id, parse_ls_tree
from speckit_git_policy.ids import check_workspace, is_policy_id, is_run_id
from speckit_git_policy.store.capsule import layout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from speckit_git_policy.git.repo import GitRepo
    from speckit_git_policy.store.bindings import Binding

# A leaf of the snapshots or bindings fan-out as ``ls-tree -r -l -z`` lists it: mode, blob
# id, size, then ``<top>/<i0>/<i1>/<i2>/<policy_id>.json`` (a uuid4 as ``ids.is_policy_id``
# has it; the fan-out digits are compared with the id's by the reader).
_LEAF = re.compile(
    rb"([0-7]+) blob ([0-9a-f]+) +([0-9]+)\t(snapshots|bindings)/"
    rb"([0-9a-f]/[0-9a-f]/[0-9a-f])/"
    rb"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})\.json"
)
assert layout.POLICY_FANOUT_LEVELS == 3  # the pattern's three fan-out digits

# The capsule's write limits (capsule.py), here so that reading needs no dulwich.
SNAPSHOT_MAX_BYTES = 16 * 1024 * 1024
BINDINGS_MAX_BYTES = 1024 * 1024


def note(repo: GitRepo, message: str) -> None:
    """``capsule.note`` (what a reader skipped, said by the CLI and ``verify``), kept
    here so that reading in bulk imports no dulwich: the same list in ``repo.memo``."""
    notes = repo.memo.get("capsule_notes")
    if not isinstance(notes, list):
        notes = repo.memo["capsule_notes"] = []
    if message not in notes:
        notes.append(message)


def notes_said(repo: GitRepo) -> list[str]:
    """What ``note`` has noted in this process so far."""
    notes = repo.memo.get("capsule_notes")
    return notes if isinstance(notes, list) else []


def capsule_workspace(repo: GitRepo) -> str | None:
    """The capsule's workspace, or None when ``speckit.capsule`` is false (as
    ``Capsule.for_repo``, without loading the capsule's write code)."""
    if not repo.config_bool("speckit.capsule", True):
        return None
    return check_workspace(repo.config_get("speckit.workspace") or layout.DEFAULT_WORKSPACE)


class PolicyTree:
    """The leaves of one workspace's policy tree, listed once, and their blobs in bulk."""

    def __init__(self, repo: GitRepo, workspace: str, reader: ObjectReader | None = None) -> None:
        self.repo = repo
        self.workspace = workspace
        self._reader = reader
        # top ("snapshots", "bindings") -> policy id -> (blob id, size)
        self._leaves: dict[str, dict[str, tuple[str, int]]] | None = None
        self._modes: dict[tuple[str, str], str] = {}  # (top, policy id) -> mode, as listed
        # The ref is read once: what ``tip`` says is what ``leaves`` lists.
        self._tip_found: tuple[str, str] | None = None
        self._tip_known = False

    @property
    def reader(self) -> ObjectReader:
        if self._reader is None:
            self._reader = ObjectReader(self.repo.common_dir)
        return self._reader

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    def __enter__(self) -> PolicyTree:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def leaves(self, top: str) -> dict[str, tuple[str, int]]:
        """policy id -> (blob id, size) of every ``<top>/<fan-out>/<id>.json``."""
        if self._leaves is None:
            self._leaves = self._list()
        return self._leaves.get(top, {})

    def tip(self) -> str | None:
        """The commit id the policy ref holds (None: no capsule yet); what ``leaves``
        lists. CapsuleRefBroken when the ref holds no commit id."""
        found = self._tip()
        return found[0] if found is not None else None

    def _tip(self) -> tuple[str, str] | None:
        if not self._tip_known:
            self._tip_found, self._tip_known = self._read_tip(), True
        return self._tip_found

    def _read_tip(self) -> tuple[str, str] | None:
        """(commit id, where it was read) of the policy ref, read from the ref files as the
        capsule's writer reads them; a ref that holds no object id fails at once, as there
        (``CapsuleRefBroken``): listing git's view of it would show an empty capsule."""
        from speckit_git_policy.errors import CapsuleRefBroken

        ref = layout.policy_ref(self.workspace)
        common = os.fspath(self.repo.common_dir)
        where = os.path.join(common, *ref.split("/"))
        try:
            with open(where, "rb") as handle:
                value: bytes | None = handle.read(256).strip()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            value = None
        if value is None:
            where = os.path.join(common, "packed-refs")
            try:
                with open(where, "rb") as handle:
                    packed = handle.read()
            except FileNotFoundError:
                return None
            end = packed.find(b" " + ref.encode() + b"\n")
            if end < 0:
                return None
            value = packed[packed.rfind(b"\n", 0, end) + 1 : end]
        text = value.decode("utf-8", "replace")
        if not is_object_id(text):
            if text.startswith("ref:"):
                what = f"is a symbolic ref (to {text[4:].strip()!r}), not a commit id"
            else:
                what = (
                    f"holds {text[:40]!r}, not a commit id" if text else "is empty, not a commit id"
                )
            raise CapsuleRefBroken(ref, where, what)
        return text, where

    def _list(self) -> dict[str, dict[str, tuple[str, int]]]:
        from speckit_git_policy.errors import CapsuleRefBroken, GitError

        tip = self._tip()
        if tip is None:
            return {"snapshots": {}, "bindings": {}}
        try:
            out = self.repo.git(
                "ls-tree", "-r", "-l", "-z", "--full-tree", tip[0], "--", "snapshots", "bindings",
            )  # fmt: skip
        except GitError as e:
            ref = layout.policy_ref(self.workspace)
            raise CapsuleRefBroken(ref, tip[1], f"points at {tip[0]}, which is missing") from e
        found: dict[str, dict[str, tuple[str, int]]] = {"snapshots": {}, "bindings": {}}
        # One match per record, in C: at 10,000 snapshots a split and a check in Python of
        # each of the 20,000 leaves cost more than git's listing of them. A name filed under
        # the wrong fan-out is not where a lookup would find it, and is left out.
        for record in out.split(b"\0"):
            match = _LEAF.fullmatch(record)
            if match is None:
                continue
            mode, oid, size, top, fan, policy_id = match.groups()
            if fan[::2] != policy_id[: layout.POLICY_FANOUT_LEVELS]:
                continue
            name = policy_id.decode()
            found[top.decode()][name] = (oid.decode(), int(size))
            self._modes[top.decode(), name] = mode.decode()
        return found

    def top_trees(self) -> tuple[str, ...] | None:
        """(name, tree id) pairs of the policy tree's top level, flattened (one ``ls-tree``
        of that level alone): what the listing of ``leaves`` is a function of. None when
        the ref cannot be listed so (``leaves`` then says why)."""
        from speckit_git_policy.errors import GitError

        tip = self._tip()
        if tip is None:
            return ()
        try:
            out = self.repo.git("ls-tree", "-l", "-z", "--full-tree", tip[0])
        except GitError:
            return None
        return tuple(
            part
            for _mode, kind, oid, _size, path in parse_ls_tree(out)
            if kind == "tree" and path in ("snapshots", "bindings")
            for part in (path, oid)
        )

    def listing(self) -> tuple[dict[str, dict[str, tuple[str, int]]], dict[tuple[str, str], str]]:
        """What ``leaves`` and ``is_plain_file`` answer from, to keep (``use_listing``)."""
        self.leaves("snapshots")
        assert self._leaves is not None
        return self._leaves, self._modes

    def use_listing(
        self,
        leaves: dict[str, dict[str, tuple[str, int]]],
        modes: dict[tuple[str, str], str],
    ) -> None:
        """Answer from a listing kept from an earlier ``listing()`` of the same trees."""
        self._leaves, self._modes = leaves, modes

    def is_plain_file(self, top: str, policy_id: str) -> bool:
        """Whether the leaf is a plain file (mode 100644), as the capsule's readers want
        it (``Capsule.read_snapshot``: an executable or a symlink is "not a file")."""
        self.leaves(top)
        return self._modes.get((top, policy_id)) == "100644"

    def ids_for_hash(self, content_hash: str) -> list[str]:
        """As ``Capsule.ids_for_hash``: the snapshots indexed under the hash, oldest
        first (one ``ls-tree`` of that index directory; their snapshots are read only
        when there are two or more to order)."""
        from speckit_git_policy.canonical import parse_json_bytes

        layout.check_hash(content_hash)
        where = f"{layout.policy_ref(self.workspace)}:{layout.hash_index_dir(content_hash)}"
        out = self.repo.git("ls-tree", "-l", "-z", where, check=False)
        ids = sorted(path for _mode, _kind, _oid, _size, path in parse_ls_tree(out))
        if len(ids) < 2:
            return ids
        paths = [
            f"{layout.policy_ref(self.workspace)}:{layout.snapshot_path(i)}"
            for i in ids
            if is_policy_id(i)
        ]
        infos = self.reader.read(paths, max_size=SNAPSHOT_MAX_BYTES)
        created: dict[str, str] = {}
        for policy_id, info in zip([i for i in ids if is_policy_id(i)], infos):
            value = None
            if info is not None and info.data is not None:
                try:
                    document = parse_json_bytes(info.data)
                except ValueError:
                    document = None
                if isinstance(document, dict):
                    value = document.get("created_at")
            created[policy_id] = value if isinstance(value, str) else ""
        return sorted(ids, key=lambda i: (created.get(i, ""), i))

    def snapshot_ids(self) -> list[str]:
        return sorted(self.leaves("snapshots"))

    def blobs(self, top: str, ids: list[str], max_size: int) -> dict[str, bytes | None]:
        """policy id -> bytes of its ``top`` blob (None: absent, or over ``max_size``)."""
        leaves = self.leaves(top)
        wanted = [(i, leaves[i][0]) for i in ids if i in leaves and leaves[i][1] <= max_size]
        infos = self.reader.read([oid for _, oid in wanted])
        result: dict[str, bytes | None] = dict.fromkeys(ids)
        for (policy_id, _oid), info in zip(wanted, infos):
            if info is not None and info.kind == "blob":
                result[policy_id] = info.data
        return result

    def snapshots(self, ids: list[str]) -> dict[str, bytes | None]:
        return self.blobs("snapshots", ids, SNAPSHOT_MAX_BYTES)

    def all_bindings(self) -> dict[str, list[Binding]]:
        """Every bound snapshot's bindings, as ``Capsule.all_bindings``: a blob that is
        too big or does not parse counts as none, with a note (``verify`` reports it)."""
        result: dict[str, list[Binding]] = {}
        for policy_id, (bindings, skipped) in self.bindings_of(sorted(self.leaves("bindings"))):
            if skipped is not None:
                note(self.repo, skipped)
            result[policy_id] = bindings
        return result

    def bindings_of(self, ids: list[str]) -> list[tuple[str, tuple[list[Binding], str | None]]]:
        """(policy id, (its bindings, the note when its blob was skipped)) for each of
        ``ids`` that has a bindings blob, in bulk; a skipped blob counts as none."""
        from speckit_git_policy.errors import SnapshotCorrupt
        from speckit_git_policy.store import bindings as binding_ops

        leaves = self.leaves("bindings")
        ids = [policy_id for policy_id in ids if policy_id in leaves]
        data = self.blobs("bindings", ids, BINDINGS_MAX_BYTES)
        result: list[tuple[str, tuple[list[Binding], str | None]]] = []
        for policy_id in ids:
            where = f"{layout.policy_uri(self.workspace, policy_id)} bindings"
            raw = data[policy_id]
            if raw is None:
                oid, size = leaves[policy_id]
                skipped = f"{where} ({oid[:12]}) skipped: {size} bytes, over the limit"
                result.append((policy_id, ([], skipped)))
                continue
            try:
                result.append((policy_id, (binding_ops.load_bindings(raw, where), None)))
            except SnapshotCorrupt as e:
                result.append((policy_id, ([], f"{where} skipped: {e.reason}")))
        return result


# ---- runs: the digests of run summaries, read in bulk -------------------------------------
_digest = layout.run_path_digest


# What a run's row is made of, in this order: its id, then its digest's fields.
DIGEST_FIELDS = (
    "events",
    "first_timestamp",
    "first_policy_id",
    "last_timestamp",
    "last_policy_id",
    "stage",
)
RECORD = 1 + len(DIGEST_FIELDS)  # values a run takes in a flat list of digests


class RunListing:
    """Every run of a workspace as its run shards give them (``run_listing``).

    ``directories``: of each ``<h2>`` directory under a fresh summary, by ``directory_key``,
    [the digests of its runs as one flat list (``RECORD`` values a run: run id, then
    ``DIGEST_FIELDS``), the run ids whose entry holds no digest]; ``digests``: the same
    flat list for runs under stale summaries whose entry still matches their tree;
    ``slow``: the run ids to read from their logs (under a stale or missing summary, or
    left at a shard's root by the earlier layout)."""

    __slots__ = ("directories", "digests", "slow")

    def __init__(self) -> None:
        self.directories: dict[str, list[list[Any]]] = {}
        self.digests: list[Any] = []
        self.slow: list[str] = []

    def all_slow(self) -> list[str]:
        return [*self.slow, *(run_id for _d, slow in self.directories.values() for run_id in slow)]


def directory_key(digits: str, tree: str) -> str:
    """A ``<h2>`` directory named by its place (shard and ``h2`` digits) and its tree id:
    the tree names its summary and every run under it exactly."""
    return f"{digits}:{tree}"


def _record(out: list[Any], run_id: str, digest: dict[str, Any]) -> None:
    out.append(run_id)
    out.extend(digest[field] for field in DIGEST_FIELDS)


def run_listing(
    repo: GitRepo, workspace: str, kept: dict[str, list[list[Any]]] | None = None
) -> RunListing:
    """Every run of the workspace (``RunListing``).

    Reads the shard refs (one ``for-each-ref``), then through one ``cat-file --batch``
    the 256 shard trees, their ``<h2>`` directories and summaries, and only under a
    stale summary the ``<h3>`` trees, to name its runs. A directory whose key is in
    ``kept`` (what an earlier listing found there) is not read again.
    """
    from speckit_git_policy.git.batch import parse_tree
    from speckit_git_policy.git.plumbing import list_refs
    from speckit_git_policy.store.capsule import runsummary

    kept = kept or {}
    listing = RunListing()
    slow, digests = listing.slow, listing.digests
    prefix = layout.runs_prefix(workspace)
    shards = {}
    for name, oid in list_refs(repo, prefix).items():
        shard = name[len(prefix) + 1 :]
        if len(shard) == 2 and all(layout.is_run_bucket(digit) for digit in shard):
            shards[shard] = oid
        else:
            note(repo, f"ref {name} skipped (not a run shard of the layout)")
    with ObjectReader(repo.common_dir) as reader:
        roots = reader.read([f"{oid}^{{tree}}" for oid in shards.values()])
        directories: list[tuple[str, str, str]] = []  # (shard, h2, tree id)
        for shard, root in zip(shards, roots):
            if root is None or root.kind != "tree" or root.data is None:
                continue
            for mode, name, oid in parse_tree(root.data, len(root.oid) // 2):
                if mode != 0o040000:
                    continue
                if layout.is_run_bucket(name):
                    key = directory_key(shard + name, oid)
                    if key in kept:
                        listing.directories[key] = kept[key]
                    else:
                        directories.append((shard, name, oid))
                elif is_run_id(name) and _digest(name).startswith(shard):
                    slow.append(name)  # the earlier layout: a run at the shard's root
                else:
                    note(repo, f"{prefix}/{shard}: {name!r} skipped (not a run of this shard)")
        trees = reader.read([oid for _, _, oid in directories])
        parsed: list[tuple[str, str, dict[str, str], str | None]] = []
        for (shard, h2, oid), tree in zip(directories, trees):
            if tree is None or tree.data is None:
                continue
            leaves: dict[str, str] = {}
            summary: str | None = None
            for mode, name, entry_id in parse_tree(tree.data, len(tree.oid) // 2):
                if mode == 0o040000 and layout.is_run_bucket(name):
                    leaves[name] = entry_id
                elif name == runsummary.SUMMARY_NAME and mode != 0o040000:
                    summary = entry_id
            parsed.append((shard + h2, oid, leaves, summary))
        blobs = reader.read(
            [oid for _, _, _, oid in parsed if oid is not None],
            max_size=runsummary.SUMMARY_MAX_BYTES,
        )
        summaries = iter(blobs)
        stale: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        for digits, tree_id, leaves, summary_oid in parsed:
            info = next(summaries) if summary_oid is not None else None
            document = runsummary.parse(info.data if info is not None else None)
            known = document["runs"] if document is not None else {}
            if document is not None and document["covers"] == leaves:
                fresh: list[Any] = []
                unsummarized: list[str] = []
                for run_id, entry in known.items():  # any order: the listing sorts
                    digest = entry.get("digest") if isinstance(entry, dict) else None
                    if not is_run_id(run_id) or not _digest(run_id).startswith(digits):
                        continue  # not a run, or not one of this directory
                    if isinstance(digest, dict) and isinstance(digest.get("events"), int):
                        if digest["events"] > 0:
                            _record(fresh, run_id, digest)
                    else:
                        unsummarized.append(run_id)
                listing.directories[directory_key(digits, tree_id)] = [fresh, unsummarized]
            else:
                stale.append((digits, leaves, known))
        # Under a stale summary: name the runs, keep the entries whose tree still matches.
        wanted = [
            (known, digits + h3, oid)
            for digits, leaves, known in stale
            for h3, oid in leaves.items()
        ]
        for (known, expected, _oid), leaf in zip(
            wanted, reader.read([oid for _, _, oid in wanted])
        ):
            if leaf is None or leaf.data is None:
                continue
            for mode, run_id, run_tree in parse_tree(leaf.data, len(leaf.oid) // 2):
                if mode != 0o040000:
                    continue
                if not is_run_id(run_id) or not _digest(run_id).startswith(expected):
                    note(
                        repo,
                        f"{prefix}/{expected[:2]}: {run_id!r} skipped (not a run of this shard)",
                    )
                    continue
                entry = known.get(run_id)
                digest = entry.get("digest") if isinstance(entry, dict) else None
                if (
                    isinstance(entry, dict)
                    and entry.get("tree") == run_tree
                    and isinstance(digest, dict)
                    and isinstance(digest.get("events"), int)
                ):
                    if digest["events"] > 0:
                        _record(digests, run_id, digest)
                else:
                    slow.append(run_id)
    return listing


# ---- whole trees, for verify: level by level through one cat-file --batch -------------------
# A tree bigger than this is left to the reader that needs it (the door's limit).
TREE_MAX_BYTES = 1024 * 1024


def read_trees(
    reader: ObjectReader,
    roots: list[bytes],
    depth: int | None = None,
    known: dict[bytes, dict[str, tuple[int, bytes]]] | None = None,
) -> dict[bytes, dict[str, tuple[int, bytes]]]:
    """Every tree under the trees ``roots`` (to ``depth`` levels below them; all for None),
    id -> entries as ``objects.ObjectIO`` holds them (name -> (mode, hex id)), read level
    by level: one pipelined ``cat-file --batch`` request per level, not a round trip per
    tree. A tree that cannot be read, or is over TREE_MAX_BYTES, is left out (whoever
    needs it reads it, and says what is wrong). ``known``: trees read before (objects
    never change under their id), not read again; those read now are added to it."""
    from speckit_git_policy.store.capsule.objects import TREE_MODE, parse_tree

    trees: dict[bytes, dict[str, tuple[int, bytes]]] = {}
    level = list(dict.fromkeys(roots))
    below = 0
    while level:
        unknown = [oid for oid in level if known is None or oid not in known]
        infos = reader.read_bounded(
            [oid.decode("ascii", "replace") for oid in unknown], TREE_MAX_BYTES
        )
        found = dict(zip(unknown, infos))
        following: list[bytes] = []
        for oid in level:
            if known is not None and oid in known:
                entries = trees[oid] = known[oid]
                following.extend(
                    child
                    for mode, child in entries.values()
                    if mode == TREE_MODE and child not in trees
                )
                continue
            info = found[oid]
            if info is None or info.kind != "tree" or info.data is None:
                continue
            try:
                entries = parse_tree(info.data, len(oid) // 2)
            except ValueError:
                continue
            trees[oid] = entries
            if known is not None:
                known[oid] = entries
            following.extend(
                child
                for mode, child in entries.values()
                if mode == TREE_MODE and child not in trees
            )
        below += 1
        if depth is not None and below > depth:
            break
        level = list(dict.fromkeys(oid for oid in following if oid not in trees))
    return trees


def read_blobs(
    reader: ObjectReader,
    blob_ids: list[bytes],
    max_size: int,
    sizes: dict[bytes, int] | None = None,
) -> dict[bytes, bytes]:
    """id -> bytes of each blob of at most ``max_size`` bytes that git has (one pipelined
    ``--batch-check``, then one ``--batch`` for those small enough); the others are left
    out, for ``ObjectIO.read_blobs`` to say what is wrong with them. ``sizes``: each blob
    read is recorded there, id -> size (what the structure check asks of git otherwise)."""
    wanted = list(dict.fromkeys(blob_ids))
    infos = reader.read_bounded([oid.decode("ascii", "replace") for oid in wanted], max_size)
    found = {
        oid: info.data
        for oid, info in zip(wanted, infos)
        if info is not None and info.kind == "blob" and info.data is not None
    }
    if sizes is not None:
        sizes.update((oid, len(data)) for oid, data in found.items())
    return found
