"""What the whole ``log`` needs of every snapshot, read once and remembered by content.

The whole history (``log`` without ``-n``, ``log --all``) shows every binding, each with
its snapshot's hash and the keys it changed against the entry before: every snapshot's
bindings (both stores, merged) and every document, parsed, flattened and compared.
At 10,000 snapshots that was some 30,000 JSON parses and 10,000 comparisons of every
key. What of it depends only on bytes is kept in ``<git common dir>/speckit/log-index``
(a ``marshal`` file, under the tool version, the Python version and the code that
computes it), keyed by those bytes' ids, so that it cannot go stale:

* a document's ``hash`` and ``created_at``, by its git blob id (the filesystem copy's
  bytes hashed as git would, the capsule copy's id as listed);
* the keys one document changed against another, by the pair of blob ids;
* a snapshot's bindings, both stores merged, by the SHA-1 of its filesystem log's bytes
  and the blob id of its capsule bindings (with the note a reader makes of a capsule
  blob that does not parse).

Every run still reads what the stores hold now: the filesystem copies and logs (their
bytes give the keys) and the capsule's listing (one ``ls-tree``: the blob ids); only
what a key does not name yet is parsed. Which copy of a document is shown, and which
bindings, is decided as without the index (``history._read_document``,
``Stores.all_bindings``).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store import Stores
from speckit_git_policy.store.bindings import Binding

FORMAT = 1
# The modules whose code the remembered facts come from.
MODULES = (
    "queries/history.py",
    "queries/history_index.py",
    "snapshot.py",
    "canonical.py",
    "store/bindings.py",
    "store/fs.py",
    "store/capsule/bulk.py",
)

Facts = tuple[Any, Any]  # a document's (hash, created_at) as it holds them; None: unreadable


def _identity() -> tuple[object, ...]:
    import sys

    from speckit_git_policy import __version__
    from speckit_git_policy.fileio import code_fingerprint

    return (FORMAT, __version__, sys.version, tuple(code_fingerprint(MODULES)))


def _blob_id(data: bytes) -> bytes:
    """The id git gives these bytes as a blob (SHA-1): the filesystem copy's key."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).digest()


class HistoryIndex:
    """Every snapshot's bindings and documents as ``log`` sees them, now, with what of
    them is remembered by content."""

    def __init__(self, repo: GitRepo, stores: Stores) -> None:
        self.repo = repo
        self.stores = stores
        self.path = os.path.join(repo.common_dir, "speckit", "log-index")
        self.identity = _identity()
        self.facts: dict[bytes, Facts | None] = {}
        self.changes: dict[bytes, list[str]] = {}  # older key + newer key (or newer) -> keys
        self.merged: dict[bytes, tuple[list[Binding], str | None]] = {}
        self.listings: dict[bytes, Any] = {}
        self._load()
        self.used: dict[str, dict[bytes, Any]] = {
            "facts": {},
            "changes": {},
            "merged": {},
            "listings": {},
        }
        self.fresh = False
        self._tree: Any = None  # the capsule's PolicyTree, listed once
        self._listing: Background | None = None
        self._docs: dict[str, tuple[bytes | None, bytes | None]] = {}  # id -> (key, bytes)
        self._parsed: dict[bytes, dict[str, Any] | None] = {}
        self._flat: dict[bytes, dict[str, Any]] = {}
        self._policies = os.fspath(stores.fs.policies)  # the ids read here are checked ones

    # ---- the file -----------------------------------------------------------------------
    def _load(self) -> None:
        import marshal

        try:
            with open(self.path, "rb") as handle:
                stored = marshal.loads(handle.read())
        except (OSError, ValueError, EOFError, TypeError):
            return
        if (
            not isinstance(stored, tuple)
            or len(stored) != 5
            or stored[0] != self.identity
            or not all(isinstance(part, dict) for part in stored[1:])
        ):
            return
        self.facts, self.changes, self.merged, self.listings = stored[1:]

    def save(self) -> None:
        """Keep what this run used (what no longer exists is dropped), when it found
        anything new; a cache: a failed write costs the next run the parsing."""
        import marshal

        from speckit_git_policy.fileio import atomic_write

        if not self.fresh:
            return
        used = self.used
        stored: Any = (
            self.identity,
            used["facts"],
            used["changes"],
            used["merged"],
            used["listings"],
        )
        data = marshal.dumps(stored)
        try:
            atomic_write(self.path, data, durable=False)
        except OSError:
            pass

    def close(self) -> None:
        if self._tree is not None:
            self._tree.close()

    # ---- the capsule's listing ------------------------------------------------------------
    def start(self) -> None:
        """List the capsule's policy tree in the background (``tree`` waits for it)."""
        if self._tree is None and self.stores.capsule_workspace is not None:
            from speckit_git_policy.store.capsule.bulk import PolicyTree

            self._tree = PolicyTree(self.repo, self.stores.capsule_workspace)
            self._listing = Background(self._list, self._tree)

    def _list(self, tree: Any) -> None:
        """The listing of the ``snapshots`` and ``bindings`` trees, kept by their ids (a
        tree id names every path, mode, size and blob id below it)."""
        tops = tree.top_trees()
        if tops is not None:
            key = b"listing:" + " ".join(tops).encode()
            known = self.listings.get(key)
            if known is not None:
                tree.use_listing(*known)
            else:
                known = tree.listing()
                self.listings[key] = known
                self.fresh = True
            self.used["listings"][key] = known
        tree.leaves("snapshots")

    @property
    def tree(self) -> Any:
        """The capsule's PolicyTree, listed (None when the capsule is off)."""
        self.start()
        if self._listing is not None:
            listing, self._listing = self._listing, None
            listing.result()
        return self._tree

    # ---- bindings (Stores.all_bindings) -------------------------------------------------------
    def all_bindings(self) -> dict[str, list[Binding]]:
        """``Stores.all_bindings()``, each snapshot's merge remembered by the bytes of its
        two lists; the capsule's notes said as its reader says them."""
        from speckit_git_policy.errors import SnapshotCorrupt
        from speckit_git_policy.store import bindings as binding_ops
        from speckit_git_policy.store.capsule import layout
        from speckit_git_policy.store.capsule.bulk import BINDINGS_MAX_BYTES, note

        fs = self.stores.fs
        logs = os.fspath(fs.binding_logs)
        logged = set(fs.binding_log_ids())
        # The filesystem first: git lists the capsule meanwhile (``start``).
        raws = {policy_id: _read(os.path.join(logs, f"{policy_id}.jsonl")) for policy_id in logged}
        for policy_id in fs.ids():
            self._document(policy_id)
        tree = self.tree
        leaves: dict[str, tuple[str, int]] = tree.leaves("bindings") if tree is not None else {}
        ids = logged | set(leaves)
        # id -> (key, log bytes, capsule blob to read, the note of a blob over the limit)
        keys: dict[str, tuple[bytes, bytes | None, str | None, str | None]] = {}
        missing: list[str] = []
        for policy_id in sorted(ids):
            raw = raws.get(policy_id)
            fs_key = hashlib.sha1(raw).digest() if raw is not None else b""
            leaf = leaves.get(policy_id)
            capsule_key, oid, big = b"", None, None
            if leaf is not None:
                if leaf[1] > BINDINGS_MAX_BYTES:
                    where = f"{layout.policy_uri(self.stores.workspace, policy_id)} bindings"
                    big = f"{where} ({leaf[0][:12]}) skipped: {leaf[1]} bytes, over the limit"
                else:
                    capsule_key, oid = bytes.fromhex(leaf[0]), leaf[0]
            key = b"%d:%s%s" % (len(fs_key), fs_key, capsule_key)
            keys[policy_id] = (key, raw, oid, big)
            if key not in self.merged:
                missing.append(policy_id)
        capsule_blobs: dict[str, bytes | None] = {}
        if missing and tree is not None:
            capsule_blobs = tree.blobs(
                "bindings", [i for i in missing if keys[i][2] is not None], BINDINGS_MAX_BYTES
            )
        result: dict[str, list[Binding]] = {}
        for policy_id in sorted(ids):
            key, raw, oid, big = keys[policy_id]
            if big is not None:
                note(self.repo, big)
            known = self.merged.get(key)
            if known is None:
                ours = binding_ops.fold(_ops(raw)) if raw is not None else []
                theirs: list[Binding] = []
                reason = None
                data = capsule_blobs.get(policy_id) if oid is not None else None
                if data is not None:
                    where = f"{layout.policy_uri(self.stores.workspace, policy_id)} bindings"
                    try:
                        theirs = binding_ops.load_bindings(data, where)
                    except SnapshotCorrupt as e:
                        reason = f"{where} skipped: {e.reason}"
                known = (binding_ops.merge(ours, theirs), reason)
                if data is not None or oid is None:
                    self.merged[key] = known
                    self.fresh = True
                else:  # listed, not read (missing here): said as the reader says it, not kept
                    where = f"{layout.policy_uri(self.stores.workspace, policy_id)} bindings"
                    size = leaves[policy_id][1]
                    note(self.repo, f"{where} ({oid[:12]}) skipped: {size} bytes, over the limit")
                    result[policy_id] = [_copy(b) for b in known[0]]
                    continue
            self.used["merged"][key] = known
            if known[1] is not None:
                note(self.repo, known[1])
            result[policy_id] = known[0]  # shared with the index: the log only reads them
        return result

    # ---- documents (history._read_document) ---------------------------------------------------
    def _document(self, policy_id: str) -> tuple[bytes | None, bytes | None]:
        """(key, bytes) of the copy ``_read_document`` reads: the filesystem's, else the
        capsule's (a plain file within the limit); (None, None) without either. The bytes
        only when the key was read from them (the filesystem copy)."""
        found = self._docs.get(policy_id)
        if found is None:
            data = _read(os.path.join(self._policies, f"snapshot-{policy_id}.json"))
            if data is not None:
                found = (_blob_id(data), data)
            else:
                found = (None, None)
                tree = self.tree
                if tree is not None:
                    from speckit_git_policy.store.capsule.bulk import SNAPSHOT_MAX_BYTES

                    leaf = tree.leaves("snapshots").get(policy_id)
                    if (
                        leaf is not None
                        and leaf[1] <= SNAPSHOT_MAX_BYTES
                        and tree.is_plain_file("snapshots", policy_id)
                    ):
                        found = (bytes.fromhex(leaf[0]), None)
            self._docs[policy_id] = found
        return found

    def _parse(self, policy_id: str) -> dict[str, Any] | None:
        """The document, parsed (``_read_document``), for what the index does not hold."""
        from speckit_git_policy.canonical import parse_json_bytes

        key, data = self._document(policy_id)
        if key is None:
            return None
        if key in self._parsed:
            return self._parsed[key]
        if data is None:
            data = self.tree.snapshots([policy_id])[policy_id]
        document = None
        if data is not None:
            try:
                value = parse_json_bytes(data)
            except (ValueError, UnicodeDecodeError):
                value = None
            document = value if isinstance(value, dict) else None
        self._parsed[key] = document
        return document

    def key(self, policy_id: str) -> bytes | None:
        return self._document(policy_id)[0]

    def document_facts(self, policy_id: str) -> Facts | None:
        """(hash, created_at) of the document ``log`` shows (as ``.get`` gives them), or
        None when there is none it can read."""
        key = self.key(policy_id)
        if key is None:
            return None
        if key in self.facts:
            known = self.facts[key]
        else:
            document = self._parse(policy_id)
            # As the log reads them: .get("hash"), and .get("created_at", "") to order by.
            known = (
                (document.get("hash"), document.get("created_at", ""))
                if document is not None
                else None
            )
            self.facts[key] = known
            self.fresh = True
        self.used["facts"][key] = known
        return known

    def all_keys(self, policy_id: str) -> list[str]:
        """``history.all_keys`` of the document (the first entry sets every key)."""
        from speckit_git_policy.queries.history import all_keys

        key = self.key(policy_id)
        assert key is not None
        found = self.changes.get(key)
        if found is None:
            found = all_keys(self._parse(policy_id) or {})
            self.changes[key] = found
            self.fresh = True
        self.used["changes"][key] = found
        return found  # shared with the index: the log only reads it

    def changed_keys(self, older_id: str, policy_id: str) -> list[str]:
        """``history.changed_keys`` of the two documents' flattened keys."""
        from speckit_git_policy.queries.history import changed_keys

        older, newer = self.key(older_id), self.key(policy_id)
        assert older is not None and newer is not None
        pair = b"%d:%s%s" % (len(older), older, newer)
        found = self.changes.get(pair)
        if found is None:
            found = changed_keys(self._flattened(older_id), self._flattened(policy_id))
            self.changes[pair] = found
            self.fresh = True
        self.used["changes"][pair] = found
        return found  # shared with the index: the log only reads it

    def _flattened(self, policy_id: str) -> dict[str, Any]:
        from speckit_git_policy.queries.history import _keyed

        key = self.key(policy_id)
        assert key is not None
        if key not in self._flat:
            self._flat[key] = _keyed(self._parse(policy_id) or {})
        return self._flat[key]


def _read(path: str) -> bytes | None:
    """The file's bytes (None when it does not exist), in plain system calls: at 10,000
    snapshots ``log`` reads 20,000 files, and a file object each cost half again as much."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        chunks: list[bytes] = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


class Background:
    """``function(*args)`` run in a thread from now on (git runs on the other core while
    this process reads files); ``result()`` waits for it, raising what it raised."""

    def __init__(self, function: Any, *args: Any) -> None:
        import threading

        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function, args), daemon=True)
        self._thread.start()

    def _run(self, function: Any, args: tuple[Any, ...]) -> None:
        try:
            self._value = function(*args)
        except BaseException as e:  # noqa: BLE001 -- handed to the caller of result()
            self._error = e

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _ops(raw: bytes) -> list[dict[str, Any]]:
    """``FilesystemStore.binding_ops`` of a log's bytes."""
    import json

    ops = []
    for line in raw.splitlines():
        try:
            op = json.loads(line)
        except ValueError:
            continue  # a line torn by a kill mid-append
        if isinstance(op, dict):
            ops.append(op)
    return ops


def _copy(binding: Binding) -> Binding:
    return {
        "commit": binding["commit"],
        "rewritten_from": list(binding["rewritten_from"]),
        "bound_at": binding["bound_at"],
    }
