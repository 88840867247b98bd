"""Object and ref plumbing under the capsule: crash-safe loose objects, copy-on-write
tree edits and compare-and-swap ref updates.

Ref names and object ids are ``bytes`` in dulwich; this module is the edge where the
capsule's ``str`` names become bytes (``ref_bytes``) and back. Everything here knows
nothing about snapshots or runs: ``capsule.py`` builds those on top.
"""

from __future__ import annotations

import binascii
import os
import time
import zlib
from collections import OrderedDict

from speckit_git_policy.errors import CapsuleRefBroken, GitError, SpeckitError, StaleLock
from speckit_git_policy.fileio import remove_quietly, write_temp_file
from speckit_git_policy.git.plumbing import parse_config_z

# dulwich is imported where it is used, never on the commit hook's path: what a hook
# reads (loose commits and trees) and writes (loose objects, one ref) is done here
# (docs/DESIGN.md §10). typing and collections.abc are for type checkers only.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from dulwich.object_store import DiskObjectStore
    from dulwich.objects import Commit, ShaFile
    from dulwich.refs import DiskRefsContainer

    from speckit_git_policy.git.batch import ObjectReader
    from speckit_git_policy.git.repo import GitRepo

TREE_MODE = 0o040000
BLOB_MODE = 0o100644

# A lock file older than this was left by a killed process: a live writer holds a
# ref lock for well under a millisecond.
STALE_LOCK_SECONDS = 5.0
# However busy the ref, give up instead of waiting for ever.
LOCK_WAIT_SECONDS = 30.0
CAS_MAX_ATTEMPTS = 2000
# Packed blobs read one by one through one git process rather than two pipelined ones.
FEW_BLOBS = 16

Entry = tuple[int, bytes]  # (mode, hex object id)
# An object id in a SHA-1 (40 hex digits) or a SHA-256 (64) repository.
_HEX_BYTES = frozenset(b"0123456789abcdef")
_TYPE_NUMS = {b"commit": 1, b"tree": 2, b"blob": 3}


def ref_bytes(name: str) -> bytes:
    return name.encode("ascii")


def ref_str(name: bytes) -> str:
    return name.decode("ascii")


class ObjectIO:
    """Reads and writes objects of one repository's object database."""

    def __init__(self, repo: CapsuleRepo, cache_size: int = 4096) -> None:
        self.repo = repo
        self.store = repo.object_store
        self.objects_dir = str(self.store.path)
        # Objects are immutable, so a tree's entries can be cached by id for ever;
        # trees this process wrote go in without being parsed back.
        self._trees: OrderedDict[bytes, dict[str, Entry]] = OrderedDict()
        self._cache_size = cache_size
        # commit id -> its tree id: every write starts from the commit a ref points
        # at, usually the one this process wrote last, so parse it only once.
        self._commit_trees: OrderedDict[bytes, bytes] = OrderedDict()
        # Objects kept in memory between start_batch() and finish_batch(), written then
        # as one pack: thousands of loose objects cost a file each (backfill).
        self._batch: dict[bytes, tuple[bytes, bytes]] | None = None
        # Blobs read in bulk elsewhere (``use_blobs``), by id: served by ``read_blobs``.
        self._blobs: Mapping[bytes, bytes] = {}

    # ---- reading ------------------------------------------------------------
    def _tree_entries(self, tree_id: bytes) -> dict[str, Entry]:
        """The cached (shared, never mutated) entries of ``tree_id``."""
        cached = self._trees.get(tree_id)
        if cached is not None:
            self._trees.move_to_end(tree_id)
            return cached
        from_disk = self._raw(tree_id)
        if from_disk is not None:
            kind, content = from_disk
            if kind != b"tree":
                raise GitError(f"capsule object {tree_id.decode()} is not a tree")
            try:
                entries = parse_tree(content, len(tree_id) // 2)
            except ValueError as e:
                raise GitError(f"capsule object {tree_id.decode()} cannot be read ({e})") from e
            self._remember_tree(tree_id, entries)
            return entries
        from dulwich.errors import ObjectFormatException
        from dulwich.objects import Tree

        try:
            obj = self._object(tree_id)
            if not isinstance(obj, Tree):
                raise GitError(f"capsule object {tree_id.decode()} is not a tree")
            # surrogateescape: a name that is not UTF-8 (another clone wrote it) stays
            # readable, and written back unchanged, instead of failing every reader.
            entries = {
                e.path.decode("utf-8", "surrogateescape"): (e.mode, bytes(e.sha))
                for e in obj.iteritems()
            }
        except (KeyError, ValueError, ObjectFormatException) as e:  # missing, or malformed
            raise GitError(f"capsule object {tree_id.decode()} cannot be read ({e})") from e
        self._remember_tree(tree_id, entries)
        return entries

    def _raw(self, object_id: bytes) -> tuple[bytes, bytes] | None:
        """(kind, content) of a loose object (or one of the batch being written) read
        here, without dulwich; None when it is neither (packed, promised, missing) or
        its file is not in the format we know: the caller then asks dulwich or git."""
        if self._batch is not None:
            pending = self._batch.get(object_id)
            if pending is not None:
                return pending
        found = read_loose(self.objects_dir, object_id)
        if found is None and self.repo.has_packs():
            # Packed (a gc'd repository): through the one `cat-file --batch` process of
            # this repository, not dulwich's pack code (about 35 ms of a hook's imports).
            info = self.repo.batch_reader().read([object_id.decode("ascii", "replace")])[0]
            if (
                info is not None
                and info.data is not None
                and info.kind in ("commit", "tree", "blob")
            ):
                found = info.kind.encode(), info.data
        return found

    def remember_trees(self, trees: Mapping[bytes, dict[str, Entry]]) -> None:
        """Trees read in bulk elsewhere (``bulk.read_trees``: ``verify`` walks every tree
        of the capsule), kept for this object's life whatever the cache's size: a tree's
        entries never change, so every lookup then costs a dict access, not a read."""
        self._cache_size = max(self._cache_size, len(self._trees) + len(trees))
        self._trees.update(trees)

    def use_blobs(self, blobs: Mapping[bytes, bytes]) -> None:
        """Blobs read in bulk elsewhere (``verify``), id -> bytes, served by ``read_blobs``
        instead of reading them again, until the next call (``{}`` lets them go)."""
        self._blobs = blobs

    def _remember_tree(self, tree_id: bytes, entries: dict[str, Entry]) -> None:
        self._trees[tree_id] = entries
        if len(self._trees) > self._cache_size:
            self._trees.popitem(last=False)

    def _object(self, object_id: bytes) -> ShaFile:
        """The object, of the batch being written or of the store, read through git when
        dulwich lacks it (a partial clone's promisor object, fetched on demand); GitError
        naming it when git has it nowhere either."""
        try:
            return self._stored(object_id)
        except KeyError:
            raise GitError(
                f"capsule object {object_id.decode()} is missing from the object database "
                "(git fsck lists what else is); fetch it again with git speckit-policy pull"
            ) from None

    def blob_bytes(self, blob_id: bytes) -> bytes:
        from_disk = self._raw(blob_id)
        if from_disk is not None:
            if from_disk[0] != b"blob":
                raise GitError(f"capsule object {blob_id.decode()} is not a blob")
            return from_disk[1]
        from dulwich.objects import Blob

        obj = self._object(blob_id)
        if not isinstance(obj, Blob):
            raise GitError(f"capsule object {blob_id.decode()} is not a blob")
        return obj.as_raw_string()

    def commit(self, commit_id: bytes) -> Commit:
        from dulwich.objects import Commit

        obj = self._object(commit_id)
        if not isinstance(obj, Commit):
            raise GitError(f"capsule ref points at {commit_id.decode()}, which is not a commit")
        return obj

    def commit_tree(self, commit_id: bytes) -> bytes:
        tree_id = self._commit_trees.get(commit_id)
        if tree_id is None:
            tree_id = _tree_line(self._raw(commit_id), len(commit_id))
            if tree_id is None:  # packed, promised, or not in the shape git writes
                tree_id = bytes(self.commit(commit_id).tree)
            self._remember_commit(commit_id, tree_id)
        return tree_id

    def _remember_commit(self, commit_id: bytes, tree_id: bytes) -> None:
        self._commit_trees[commit_id] = tree_id
        if len(self._commit_trees) > self._cache_size:
            self._commit_trees.popitem(last=False)

    def is_commit(self, commit_id: bytes) -> bool:
        # Loose only (a commit just made, the hook's case); an older, packed one is
        # asked of the object store as before: backfill and rewrites check many.
        from_disk = read_loose(self.objects_dir, commit_id)
        if from_disk is not None:
            return from_disk[0] == b"commit"
        from dulwich.objects import Commit

        try:
            return isinstance(self._stored(commit_id), Commit)
        except KeyError:
            return False

    def _stored(self, obj_id: bytes) -> ShaFile:
        """An object of the batch being written, or of the store (KeyError: neither)."""
        if self._batch is not None:
            pending = self._batch.get(obj_id)
            if pending is not None:
                return self._parsed(obj_id, *pending)
        return self.store[obj_id]

    def _parsed(self, obj_id: bytes, kind: bytes, content: bytes) -> ShaFile:
        from dulwich.object_format import get_object_format
        from dulwich.objects import ObjectID, ShaFile

        return ShaFile.from_raw_string(
            _TYPE_NUMS[kind],
            content,
            ObjectID(obj_id),
            object_format=get_object_format(self.repo.object_format),
        )

    def lookup(self, tree_id: bytes | None, path: Iterable[str]) -> Entry | None:
        """(mode, id) at ``path`` under ``tree_id``; None when any part is missing."""
        entry: Entry | None = (TREE_MODE, tree_id) if tree_id else None
        for part in path:
            if entry is None or entry[0] != TREE_MODE:
                return None
            entry = self._tree_entries(entry[1]).get(part)
        return entry

    def entries(self, tree_id: bytes | None) -> dict[str, Entry]:
        """A fresh copy of the tree's entries (the caller may change it)."""
        if tree_id is None:
            return {}
        return dict(self._tree_entries(tree_id))

    # ---- writing ------------------------------------------------------------
    def write(self, obj: ShaFile) -> bytes:
        return self.write_raw(obj.type_name, obj.as_raw_string())

    def write_raw(self, kind: bytes, content: bytes) -> bytes:
        """Store a loose object, atomically, and return its id.

        dulwich's ``add_object`` writes through ``<object>.lock``: a writer killed
        mid-write leaves that lock behind and every later writer of the same
        content would then fail. Git's own way (a ``tmp_obj_*`` file renamed into
        place) has no such failure mode, and ``git prune`` sweeps the leftovers.
        No fsync, as git's default (core.fsync leaves loose objects out): a killed
        process loses nothing the kernel already has.
        """
        data = b"%s %d\0%s" % (kind, len(content), content)
        # The repository's own object format (docs/DESIGN.md §4): a SHA-1 object in a
        # SHA-256 database is a bad object to git fsck and kills git gc.
        hexid = _object_hash(self.repo.object_format)(data)
        obj_id = hexid.encode()
        if self._batch is not None:
            self._batch[obj_id] = (kind, content)
            return obj_id
        return self._write_loose(obj_id, data)

    def _write_loose(self, obj_id: bytes, data: bytes) -> bytes:
        hexid = obj_id.decode()
        directory = os.path.join(self.objects_dir, hexid[:2])
        path = os.path.join(directory, hexid[2:])
        try:
            # Freshen the mtime so a concurrent `git gc` does not prune it before
            # our ref points at it.
            os.utime(path, None)
            return obj_id
        except FileNotFoundError:
            pass
        # Not loose: written loose even when a pack holds it already (git reads either;
        # `git gc` drops the copy), which spares a hook dulwich's pack code (docs/DESIGN.md §10).
        os.makedirs(directory, exist_ok=True)
        tmp = write_temp_file(
            directory, zlib.compress(data), prefix="tmp_obj_", mode=0o444, durable=False
        )
        try:
            os.replace(tmp, path)
        except BaseException:
            remove_quietly(tmp)
            raise
        return obj_id

    def start_batch(self) -> None:
        """Keep the objects written from now on in memory (readable as usual), for
        ``finish_batch`` to write as one pack: a write of thousands of objects then costs
        two files, not a file each. ``drop_batch`` forgets them (nothing to commit)."""
        self._batch = {}

    def finish_batch(self) -> None:
        """Write the batch as one pack (through dulwich: a temporary file renamed into
        place, then its index), before any ref may point at its objects."""
        batch, self._batch = self._batch, None
        if not batch:
            return
        if self.repo.object_format != "sha1":
            # dulwich's pack writer is SHA-1's: a SHA-256 repository gets loose objects.
            for obj_id, (kind, content) in batch.items():
                self._write_loose(obj_id, b"%s %d\0%s" % (kind, len(content), content))
            return
        objects = [
            (self._parsed(obj_id, kind, content), None) for obj_id, (kind, content) in batch.items()
        ]
        self.store.disk_store().add_objects(objects)

    def drop_batch(self) -> None:
        self._batch = None

    def write_blob(self, data: bytes) -> bytes:
        return self.write_raw(b"blob", data)

    def write_tree(self, entries: Mapping[str, Entry]) -> bytes:
        """Serialize in git's tree order (a directory sorts as if its name ended
        in "/") without building a dulwich ``Tree``: appends write several trees."""
        ordered = sorted(
            entries.items(), key=lambda item: item[0] + "/" if item[1][0] == TREE_MODE else item[0]
        )
        content = b"".join(
            b"%o %s\0%s" % (mode, name.encode("utf-8", "surrogateescape"), binascii.unhexlify(sha))
            for name, (mode, sha) in ordered
        )
        tree_id = self.write_raw(b"tree", content)
        self._remember_tree(tree_id, dict(entries))
        return tree_id

    def write_commit(
        self, tree_id: bytes, parents: list[bytes], message: str, identity: bytes
    ) -> bytes:
        """A commit in the bytes dulwich's ``Commit`` writes (and git itself): tree,
        parents, author and committer at UTC, a blank line, the message."""
        signature = b"%s %d +0000" % (identity, int(time.time()))
        content = b"".join(
            [
                b"tree %s\n" % tree_id,
                *(b"parent %s\n" % parent for parent in _unique(parents)),
                b"author %s\ncommitter %s\n\n" % (signature, signature),
                message.encode() + b"\n",
            ]
        )
        commit_id = self.write_raw(b"commit", content)
        self._remember_commit(commit_id, tree_id)
        return commit_id

    # ---- reading what may be huge (another clone wrote it) ---------------------
    def read_blobs(self, blob_ids: Iterable[bytes], limit: int) -> dict[bytes, bytes | str]:
        """Each blob's bytes, or why it is not given ("over N bytes", "not a blob",
        "missing"), never reading a blob over ``limit`` bytes whole.

        A loose object's size is in its zlib header, read before the rest. Objects that
        are not loose (packed, or promised by a partial clone) are sized by git first and
        only then read, through this repository's one ``cat-file --batch-check`` and
        ``--batch`` pair (``batch_reader``), not two git processes per call: ``verify``
        reads some 20,000 capsule blobs one snapshot at a time. Up to ``FEW_BLOBS`` go
        through the ``--batch`` process alone (``read_capped``: its header gives the
        size, and one over the limit stops the process instead of being read).
        """
        found: dict[bytes, bytes | str] = {}
        elsewhere: list[bytes] = []
        for blob_id in dict.fromkeys(blob_ids):
            known = self._blobs.get(blob_id)
            if known is not None and len(known) <= limit:
                found[blob_id] = known
                continue
            loose = self._read_loose_limited(blob_id, limit)
            if loose is None:
                elsewhere.append(blob_id)
            else:
                found[blob_id] = loose
        if elsewhere:
            names = [blob_id.decode("ascii", "replace") for blob_id in elsewhere]
            reader = self.repo.batch_reader()
            # A few (a command's run events): one git process, asked one by one; many
            # (verify): sizes first, then the contents, both pipelined.
            read = reader.read_capped if len(names) <= FEW_BLOBS else reader.read
            for blob_id, info in zip(elsewhere, read(names, limit)):
                if info is None:
                    found[blob_id] = "missing"
                elif info.kind != "blob":
                    found[blob_id] = f"not a blob (a {info.kind})"
                elif info.size > limit or info.data is None:
                    found[blob_id] = f"{info.size} bytes, over the limit of {limit}"
                else:
                    found[blob_id] = info.data
        return found

    def _read_loose_limited(self, blob_id: bytes, limit: int) -> bytes | str | None:
        """A loose blob's bytes or why not; None when it is not a loose object here."""
        hexid = blob_id.decode("ascii", "replace")
        path = os.path.join(self.objects_dir, hexid[:2], hexid[2:])
        try:
            with open(path, "rb") as handle:
                head = handle.read(4096)
                try:
                    inflater = zlib.decompressobj()
                    start = inflater.decompress(head, 64)
                    header, nul, _rest = start.partition(b"\0")
                    kind, _space, size_text = header.partition(b" ")
                    if not nul or not size_text.isdigit():
                        return None  # not the format we know: let git read it
                    size = int(size_text)
                    if kind != b"blob":
                        return f"not a blob (a {kind.decode('ascii', 'replace')})"
                    if size > limit:
                        return f"{size} bytes, over the limit of {limit}"
                    data = zlib.decompress(head + handle.read())
                except zlib.error:
                    return None
        except (FileNotFoundError, NotADirectoryError):
            return None
        return data[len(header) + 1 :]


class TreeEdit:
    """A set of changes to a tree, applied copy-on-write: only the trees on the
    changed paths are rewritten, so an edit costs the same whatever the size of
    the untouched shards. A change to None removes the entry (and trees left empty)."""

    def __init__(self) -> None:
        self.changes: dict[tuple[str, ...], Entry | None] = {}

    def put(self, path: str, entry: Entry) -> None:
        self.changes[tuple(path.split("/"))] = entry

    def delete(self, path: str) -> None:
        self.changes[tuple(path.split("/"))] = None

    def apply(self, io: ObjectIO, tree_id: bytes | None) -> bytes:
        result = self._apply(io, tree_id, dict(self.changes))
        return result if result is not None else io.write_tree({})

    def _apply(
        self, io: ObjectIO, tree_id: bytes | None, changes: dict[tuple[str, ...], Entry | None]
    ) -> bytes | None:
        entries = io.entries(tree_id)
        nested: dict[str, dict[tuple[str, ...], Entry | None]] = {}
        for path, entry in changes.items():
            if len(path) > 1:
                nested.setdefault(path[0], {})[path[1:]] = entry
            elif entry is None:
                entries.pop(path[0], None)
            else:
                entries[path[0]] = entry
        for name, sub_changes in nested.items():
            current = entries.get(name)
            sub_tree = current[1] if current and current[0] == TREE_MODE else None
            sub_result = self._apply(io, sub_tree, sub_changes)
            if sub_result is None:
                entries.pop(name, None)
            else:
                entries[name] = (TREE_MODE, sub_result)
        return io.write_tree(entries) if entries else None


class RefUpdater:
    """Compare-and-swap updates of one ref, retried until they win.

    ``compute(old)`` reads the state at ``old`` and writes every new object before
    it returns the new commit id, so the ref can only ever move to a complete
    object graph; a writer killed at any moment leaves the ref where it was.
    """

    def __init__(self, repo: CapsuleRepo) -> None:
        self._repo = repo
        self.refs_dir = os.fsdecode(repo.commondir())
        self._packed: tuple[tuple[int, int, int], bytes] | None = None

    @property
    def refs(self) -> DiskRefsContainer:
        """dulwich's refs, for listing only (``subkeys``): opened on first need, never
        by a hook, which reads and swaps its one ref here."""
        return self._repo.refs

    def read(self, name: bytes) -> bytes | None:
        """The commit id ``name`` points at, loose ref first, then ``packed-refs``.

        dulwich's ``read_ref`` validates every line of ``packed-refs`` in Python on
        each fresh read (about 35 us a ref: 9 ms for our 257 refs, 37 ms at 10,000
        user tags). A lookup only needs one line, which a byte search finds.
        """
        path = os.path.join(self.refs_dir, os.fsdecode(name))
        try:
            with open(path, "rb") as handle:
                value = handle.read(256).strip()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            pass
        else:
            # Anything but an object id fails at once: treated as absent, every write
            # would lose its compare-and-swap to it (2000 times, ~51 s), and a symbolic
            # ref would have dulwich move the ref it names (refs/heads/main, say).
            if _is_object_id(value):
                return value
            raise CapsuleRefBroken(ref_str(name), path, _what_it_holds(value))
        packed = self._packed_refs()
        end = packed.find(b" " + name + b"\n")
        if end < 0:
            return None
        value = packed[packed.rfind(b"\n", 0, end) + 1 : end]
        if _is_object_id(value):
            return value
        raise CapsuleRefBroken(
            ref_str(name), os.path.join(self.refs_dir, "packed-refs"), _what_it_holds(value)
        )

    def subkeys(self, prefix: bytes) -> set[bytes]:
        """Names of the refs under ``prefix``, without it (listing: cost grows with refs)."""
        from dulwich.refs import Ref

        return set(self.refs.subkeys(Ref(prefix)))

    def _packed_refs(self) -> bytes:
        path = os.path.join(self.refs_dir, "packed-refs")
        try:
            with open(path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
                if self._packed is None or self._packed[0] != key:
                    self._packed = (key, handle.read())
        except FileNotFoundError:
            self._packed = None
            return b""
        return self._packed[1]

    def update(
        self, name: bytes, compute: Callable[[bytes | None], bytes | None]
    ) -> tuple[bytes | None, bytes | None]:
        """Move ``name`` to ``compute(old)``; return (old, new). ``compute`` returning
        None (or ``old``) means there is nothing to change."""
        for attempt in range(CAS_MAX_ATTEMPTS):
            old = self.read(name)
            new = compute(old)
            if new is None or new == old:
                return old, old
            if self._swap(name, old, new):
                return old, new
            # Lost the race: someone else moved the ref. Back off a little so the
            # writers spread out, then rebuild on top of the winner.
            time.sleep(_jitter(0, min(0.002 * (attempt + 1), 0.05)))
        raise GitError(f"gave up updating {ref_str(name)}: {CAS_MAX_ATTEMPTS} lost races in a row")

    def _swap(self, name: bytes, old: bytes | None, new: bytes) -> bool:
        return with_lock_retry(lambda: self._swap_locked(name, old, new), self.refs_dir)

    def _swap_locked(self, name: bytes, old: bytes | None, new: bytes) -> bool:
        """git's own lock-file protocol, with dulwich's ``set_if_equals`` (``add_if_new``
        when ``old`` is None) semantics: create ``<ref>.lock`` exclusively (RefLocked
        if it exists), read the ref again under the lock (loose file, else packed-refs),
        and only if it still holds ``old`` write ``new`` into the lock, fsync it and
        rename it over the ref. Readers see the old value or the new, never a part; a
        writer killed at any point leaves the ref as it was (and at worst its lock,
        which ``with_lock_retry`` reports as stale). The fsync is kept: the ref is
        what makes a capture reachable, and a rename that reaches the disk before
        its data would leave an empty ref after a power cut."""
        path = os.path.join(self.refs_dir, os.fsdecode(name))
        lock = path + ".lock"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise RefLocked(lock) from None
        renamed = False
        try:
            try:
                if self.read(name) != old:
                    return False
                os.write(fd, new + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(lock, path)
            renamed = True
        finally:
            if not renamed:
                remove_quietly(lock)
        return True


class RefLocked(Exception):
    """Another writer holds ``<ref>.lock`` (or a killed one left it)."""

    def __init__(self, lockfilename: str) -> None:
        super().__init__(lockfilename)
        self.lockfilename = lockfilename


def with_lock_retry(action: Callable[[], bool], base_dir: str) -> bool:
    """Run ``action``, retrying while dulwich reports ``FileLocked``; a lock that
    is old (its writer was killed) is reported, never waited on for ever."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.0005
    while True:
        try:
            return action()
        except RefLocked as e:
            lock_path = os.fsdecode(e.lockfilename)
            if _lock_age(lock_path) > STALE_LOCK_SECONDS or time.monotonic() > deadline:
                raise StaleLock(
                    os.path.join(base_dir, lock_path) if not os.path.isabs(lock_path) else lock_path
                ) from e
            time.sleep(_jitter(delay / 2, delay))
            delay = min(delay * 2, 0.05)


def ref_problems(repo: GitRepo, namespace: str) -> list[SpeckitError]:
    """What blocks or breaks the refs under ``namespace`` (``refs/speckit``), each an
    error that names the path and the fix, for ``doctor`` and ``verify``: a stale lock
    (every later write to its ref would fail), a ref file that does not hold a commit id
    (garbage, a symbolic ref), a ref naming an object that is missing or not a commit."""
    from speckit_git_policy.git.plumbing import object_infos

    common = os.fspath(repo.common_dir)
    problems: list[SpeckitError] = []
    values: dict[str, tuple[str, str]] = {}  # ref -> (id, where)
    for lock in (os.path.join(common, "packed-refs.lock"),):
        if os.path.exists(lock) and _lock_age(lock) > STALE_LOCK_SECONDS:
            problems.append(StaleLock(lock))
    for directory, _subdirs, names in os.walk(os.path.join(common, *namespace.split("/"))):
        for name in sorted(names):
            path = os.path.join(directory, name)
            ref = os.path.relpath(path, common).replace(os.sep, "/")
            if name.endswith(".lock"):
                if _lock_age(path) > STALE_LOCK_SECONDS:
                    problems.append(StaleLock(path))
                continue
            try:
                with open(path, "rb") as handle:
                    value = handle.read(256).strip()
            except OSError:
                continue
            if _is_object_id(value):
                values[ref] = (value.decode(), path)
            else:
                problems.append(CapsuleRefBroken(ref, path, _what_it_holds(value)))
    packed = os.path.join(common, "packed-refs")
    try:
        with open(packed, "rb") as handle:
            lines = handle.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        packed_value, _space, raw_name = line.partition(b" ")
        ref = raw_name.decode("utf-8", "replace")
        if not ref.startswith(namespace + "/") or ref in values:
            continue
        if _is_object_id(packed_value):
            values[ref] = (packed_value.decode(), packed)
        else:
            problems.append(CapsuleRefBroken(ref, packed, _what_it_holds(packed_value)))
    refs = sorted(values)
    for ref, info in zip(refs, object_infos(repo, [values[r][0] for r in refs])):
        if info is None or info.kind != "commit":
            what = "is missing" if info is None else f"is a {info.kind}, not a commit"
            problems.append(
                CapsuleRefBroken(ref, values[ref][1], f"points at {values[ref][0]}, which {what}")
            )
    return problems


def commit_identity(repo: CapsuleRepo) -> bytes:
    """Who wrote a capsule commit: git's committer identity, else the tool's."""
    name = os.environ.get("GIT_COMMITTER_NAME") or _config_user(repo, b"name")
    email = os.environ.get("GIT_COMMITTER_EMAIL") or _config_user(repo, b"email")
    name = _ident_part(name) or "speckit-git-policy"
    email = _ident_part(email) or "speckit-git-policy@localhost"
    return f"{name} <{email}>".encode()


def _config_user(repo: CapsuleRepo, key: bytes) -> str | None:
    try:
        value = repo.get_config_stack().get((b"user",), key)
    except KeyError:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else None


def _ident_part(value: str | None) -> str:
    """Strip what would make a malformed commit identity (git fsck checks it)."""
    if not value:
        return ""
    return "".join(ch for ch in value if ch not in "<>\n\r\0").strip()


def _lock_age(path: str) -> float:
    try:
        return time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return 0.0  # released between the failure and the stat: just retry


def _is_object_id(value: bytes) -> bool:
    return len(value) in (40, 64) and _HEX_BYTES.issuperset(value)


def _what_it_holds(value: bytes) -> str:
    if value.startswith(b"ref:"):
        target = value[4:].strip().decode("utf-8", "replace")
        return f"is a symbolic ref (to {target!r}), not a commit id"
    if not value:
        return "is empty, not a commit id"
    shown = value[:40].decode("utf-8", "replace")
    return f"holds {shown!r}, not a commit id"


def _unique(items: list[bytes]) -> list[bytes]:
    return list(dict.fromkeys(items))


# ---- the repository as dulwich sees it (objects, refs, user identity) ----
class CapsuleRepo:
    """The part of a dulwich ``Repo`` the capsule uses: ``object_store``, ``refs``,
    ``commondir()`` and ``get_config_stack()``, over a repository's common dir.

    Not a ``Repo``: opening one imports dulwich.repo and its pack machinery (hooks,
    worktrees, config, logging...) and reads the config, about a fifth of a
    post-commit hook. The refs are dulwich's own ``DiskRefsContainer``, built as
    ``Repo`` builds it (no reflog: the capsule's updates carry no message, so
    ``Repo`` writes none either); objects go through ``LooseFirstObjects``.
    """

    def __init__(self, common_dir: str, repo: GitRepo) -> None:
        self._common_dir = common_dir
        self._repo = repo
        self.object_format = object_format_of(repo)
        self.object_store = LooseFirstObjects(common_dir, repo, self.object_format)
        self._refs: DiskRefsContainer | None = None
        self._user_config: UserConfig | None = None
        self._has_packs: bool | None = None
        self._reader: ObjectReader | None = None

    def commondir(self) -> str:
        return self._common_dir

    def has_packs(self) -> bool:
        """Whether the object database holds any pack (looked at once per process)."""
        if self._has_packs is None:
            try:
                names = os.listdir(os.path.join(self._common_dir, "objects", "pack"))
            except OSError:
                names = []
            self._has_packs = any(name.endswith(".pack") for name in names)
        return self._has_packs

    def batch_reader(self) -> ObjectReader:
        """One ``cat-file --batch`` process for the packed objects this process reads,
        started on first need and stopped when this object goes (or at exit)."""
        if self._reader is None:
            import weakref

            from speckit_git_policy.git.batch import ObjectReader

            self._reader = ObjectReader(self._common_dir)
            weakref.finalize(self, self._reader.close)
        return self._reader

    @property
    def git_repo(self) -> GitRepo:
        """The repository as the git binary sees it (for what only git can read)."""
        return self._repo

    @property
    def refs(self) -> DiskRefsContainer:
        if self._refs is None:
            from dulwich.refs import DiskRefsContainer

            self._refs = DiskRefsContainer(self._common_dir, self._common_dir)
        return self._refs

    def get_config_stack(self) -> UserConfig:
        if self._user_config is None:
            self._user_config = UserConfig(self._repo)
        return self._user_config


class UserConfig:
    """``user.name`` and ``user.email`` as git itself reads them (every config level,
    includes and ``includeIf``), looked up the way dulwich's ``StackedConfig.get``
    is: ``get((b"user",), b"name")`` → bytes, KeyError when unset. One git call
    costs a hook less than importing and parsing dulwich's config stack."""

    def __init__(self, repo: GitRepo) -> None:
        self._repo = repo
        self._values: dict[bytes, bytes] | None = None

    def get(self, section: tuple[bytes, ...], name: bytes) -> bytes:
        if section != (b"user",):
            raise KeyError(name)
        known = self._repo.memo.get("user_identity")  # the sh hook asked git already
        if self._values is None and isinstance(known, dict):
            self._values = known
        if self._values is None:
            out = self._repo.git(
                "config", "-z", "--get-regexp", r"^user\.(name|email)$", check=False
            )
            self._values = {
                key.split(".", 1)[1].encode(): setting or b""
                for key, setting in parse_config_z(out).items()
            }
        value = self._values.get(name.lower())
        if value is None:
            raise KeyError(name)
        return value


class LooseFirstObjects:
    """An object store that reads a loose object itself and leaves everything else
    (packs, alternates) to dulwich's ``DiskObjectStore``, opened on first need (the
    capsule writes loose objects, so a hook rarely opens it), and what neither has to
    git itself: a partial clone's promisor object is fetched by ``git cat-file`` on
    demand (docs/DESIGN.md §4). The store is opened without a dulwich ``Repo``, whose
    check of ``extensions.*`` refuses a partial clone's ``partialclone``."""

    def __init__(self, common_dir: str, repo: GitRepo, object_format: str) -> None:
        self._common_dir = common_dir
        self._git = repo
        self.object_format = object_format
        self.path = os.path.join(common_dir, "objects")
        self._store: DiskObjectStore | None = None

    def disk_store(self) -> DiskObjectStore:
        """dulwich's store of this object database (opened once, on first need)."""
        if self._store is None:
            from dulwich.object_format import get_object_format
            from dulwich.object_store import DiskObjectStore

            self._store = DiskObjectStore(
                self.path, object_format=get_object_format(self.object_format)
            )
        return self._store

    def __getitem__(self, sha: bytes) -> ShaFile:
        from dulwich.objects import ShaFile

        if len(sha) != (64 if self.object_format == "sha256" else 40):
            raise KeyError(sha)  # an id of the other format names nothing here
        hexid = sha.decode("ascii")
        try:
            if len(sha) == 40 and self.object_format == "sha1":
                return ShaFile.from_path(os.path.join(self.path, hexid[:2], hexid[2:]), sha)  # type: ignore[arg-type]
        except FileNotFoundError:
            pass
        try:
            obj: ShaFile = self.disk_store()[sha]  # type: ignore[index]
            return obj
        except KeyError:
            pass
        return self._through_git(sha)

    def _through_git(self, sha: bytes) -> ShaFile:
        """The object as git reads it (a promisor remote serves what a partial clone
        lacks); KeyError when git has it nowhere either."""
        from dulwich.object_format import get_object_format
        from dulwich.objects import ObjectID, ShaFile, object_class

        from speckit_git_policy.git.plumbing import read_objects

        found = read_objects(self._git, [sha.decode("ascii")])
        info = found[0] if found else None
        if info is None or info.data is None or info.oid != sha.decode("ascii"):
            raise KeyError(sha)
        kind = object_class(info.kind.encode())
        if kind is None:
            raise KeyError(sha)
        return ShaFile.from_raw_string(
            kind.type_num,
            info.data,
            ObjectID(sha),
            object_format=get_object_format(self.object_format),
        )

    def contains_packed(self, sha: bytes) -> bool:
        try:
            packs = [
                name
                for name in os.listdir(os.path.join(self.path, "pack"))
                if name.endswith(".pack")
            ]
        except FileNotFoundError:
            packs = []
        if not packs:
            return False
        return bool(self.disk_store().contains_packed(sha))  # type: ignore[arg-type]


# ---- loose objects, read without dulwich (the hook path) ---------------------------
def read_loose(objects_dir: str, object_id: bytes) -> tuple[bytes, bytes] | None:
    """(kind, content) of the loose object ``object_id``; None when there is no such
    file or it is not a zlib stream of ``<kind> <size>\\0<content>`` with that size."""
    hexid = object_id.decode("ascii", "replace")
    try:
        with open(os.path.join(objects_dir, hexid[:2], hexid[2:]), "rb") as handle:
            compressed = handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        data = zlib.decompress(compressed)
    except zlib.error:
        return None
    header, nul, content = data.partition(b"\0")
    kind, _space, size = header.partition(b" ")
    if not nul or kind not in _TYPE_NUMS or not size.isdigit() or int(size) != len(content):
        return None
    return kind, content


def parse_tree(content: bytes, id_length: int) -> dict[str, Entry]:
    """A tree object's entries, name → (mode, hex id), read as dulwich's ``parse_tree``
    reads them (not strict); ValueError when it is malformed. Names are decoded with
    surrogateescape: a name that is not UTF-8 (another clone wrote it) stays readable,
    and is written back unchanged."""
    entries: dict[str, Entry] = {}
    position, end = 0, len(content)
    while position < end:
        space = content.index(b" ", position)
        mode = int(content[position:space], 8)
        nul = content.index(b"\0", space)
        name = content[space + 1 : nul]
        position = nul + 1 + id_length
        raw_id = content[nul + 1 : position]
        if len(raw_id) != id_length:
            raise ValueError("object id of invalid length")
        entries[name.decode("utf-8", "surrogateescape")] = (mode, binascii.hexlify(raw_id))
    return entries


def _tree_line(raw: tuple[bytes, bytes] | None, id_length: int) -> bytes | None:
    """The tree id a raw commit names on its first line; None when ``raw`` is not a
    commit in that shape (the caller then lets dulwich parse it and say what is wrong)."""
    if raw is None or raw[0] != b"commit":
        return None
    content = raw[1]
    if content[:5] != b"tree " or content[5 + id_length : 6 + id_length] != b"\n":
        return None
    tree_id = content[5 : 5 + id_length]
    return tree_id if _is_object_id(tree_id) else None


def object_format_of(repo: GitRepo) -> str:
    """The repository's object format, ``sha1`` or ``sha256`` (``extensions.objectFormat``).
    Read from the config file itself when it names no object format (the usual case:
    no git call), else asked of git."""
    try:
        with open(os.path.join(repo.common_dir, "config"), "rb") as handle:
            text = handle.read().lower()
    except OSError:
        text = b"objectformat"  # let git say
    if b"objectformat" not in text:
        return "sha1"
    out = repo.git("rev-parse", "--show-object-format", check=False).decode().strip()
    return out if out in ("sha1", "sha256") else "sha1"


def capsule_repo(repo: GitRepo) -> CapsuleRepo:
    """The capsule's view of ``repo``'s common dir, opened once per ``GitRepo``
    (every Capsule, ObjectIO and RefUpdater of a process shares its caches)."""
    found = repo.memo.get("capsule_repo")
    if not isinstance(found, CapsuleRepo):
        found = repo.memo["capsule_repo"] = CapsuleRepo(os.fspath(repo.common_dir), repo)
    return found


def _object_hash(object_format: str) -> Callable[[bytes], str]:
    """The hex digest of the repository's object format, without loading OpenSSL
    (``hashing.py``); hashlib for a format it does not know."""
    from speckit_git_policy import hashing

    if object_format == "sha1":
        return hashing.sha1_hex
    if object_format == "sha256":
        return hashing.sha256_hex
    import hashlib

    return lambda data: hashlib.new(object_format, data).hexdigest()


def _jitter(low: float, high: float) -> float:
    """A random back-off (random is imported only by a writer that lost a race)."""
    import random

    return random.uniform(low, high)
