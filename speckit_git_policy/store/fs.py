"""The filesystem copy: ``.speckit/policies/snapshot-<policy_id>.json`` (docs/DESIGN.md §4).

Snapshot files are immutable and written atomically (temp file, fsync, rename).
Two small indexes sit beside them so that no lookup reads every snapshot:

* ``.speckit/index/by-hash/<hash>`` holds the policy id of that content. It is
  created with ``link()``, which fails when the name exists: of two processes
  capturing the same content at once, exactly one claims the hash.
* ``.speckit/bindings/<policy_id>.jsonl`` is an append-only log of binding
  operations (bind, rewrite); one ``O_APPEND`` write per line, and a torn last
  line left by a kill is skipped on read.
"""

from __future__ import annotations

import os

from speckit_git_policy.errors import BadInput
from speckit_git_policy.fileio import atomic_write, is_within, remove_quietly, write_temp_file
from speckit_git_policy.ids import check_content_hash, is_policy_id

# pathlib, typing and json are not imported at run time: this module is on the git
# hooks' path (os.path and strings instead; json only where a log is read).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import Any

SPECKIT_DIR = ".speckit"
EXCLUDE_LINE = "/.speckit/"


class FilesystemStore:
    """Snapshots, hash index and binding logs under ``<work tree>/.speckit``."""

    def __init__(self, work_tree: str | os.PathLike[str]) -> None:
        self.work_tree = os.fspath(work_tree)
        self.base = os.path.join(self.work_tree, SPECKIT_DIR)
        self.policies = os.path.join(self.base, "policies")
        self.by_hash = os.path.join(self.base, "index", "by-hash")
        self.binding_logs = os.path.join(self.base, "bindings")

    def _writable(self, directory: str) -> str:
        """``directory`` when it really lies under the work tree's ``.speckit/``: a
        ``.speckit`` symlink (committed in a cloned repository, say) must not make us
        write or delete files elsewhere (docs/DESIGN.md §10)."""
        if not is_within(directory, os.path.join(os.path.realpath(self.work_tree), SPECKIT_DIR)):
            raise BadInput(
                f"{directory}: a symlink leads it out of {SPECKIT_DIR}/; refusing to write there "
                f"(remove the link: {SPECKIT_DIR}/ is the tool's own directory)"
            )
        return directory

    # ---- snapshots -----------------------------------------------------------
    def path_for(self, policy_id: str) -> Path:
        from pathlib import Path

        return Path(self.file_for(policy_id))

    def file_for(self, policy_id: str) -> str:
        """The snapshot file's path (``path_for`` as a string, as the hooks use it)."""
        if not is_policy_id(policy_id):
            raise BadInput(f"{policy_id!r} is not a policy id")
        return os.path.join(self.policies, f"snapshot-{policy_id}.json")

    def relative_path(self, policy_id: str) -> str:
        return f"{SPECKIT_DIR}/policies/snapshot-{policy_id}.json"

    def write(self, policy_id: str, data: bytes, *, durable: bool = True) -> str:
        """Write the snapshot file atomically (``durable``: fsync'd too; a bulk writer
        that syncs once at the end passes False)."""
        path = self.file_for(policy_id)
        self._writable(os.path.dirname(path))
        atomic_write(path, data, durable=durable)
        return path

    def read(self, policy_id: str) -> bytes | None:
        try:
            with open(self.file_for(policy_id), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def remove(self, policy_id: str) -> None:
        name = os.path.basename(self.file_for(policy_id))
        try:
            os.unlink(os.path.join(self._writable(self.policies), name))
        except FileNotFoundError:
            pass

    def mark_pruned(self, policy_id: str) -> None:
        """Record that the copy was removed on purpose, so verify does not restore it."""
        name = os.path.basename(self.file_for(policy_id))
        atomic_write(os.path.join(self._writable(os.path.join(self.base, "pruned")), name), b"")

    def is_pruned(self, policy_id: str) -> bool:
        name = os.path.basename(self.file_for(policy_id))
        return os.path.exists(os.path.join(self.base, "pruned", name))

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.policies)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if name.startswith("snapshot-") and name.endswith(".json"):
                candidate = name[len("snapshot-") : -len(".json")]
                if is_policy_id(candidate):
                    found.append(candidate)
        return sorted(found)

    def ids_with_prefix(self, prefix: str) -> list[str]:
        return [policy_id for policy_id in self.ids() if policy_id.startswith(prefix)]

    # ---- hash index ----------------------------------------------------------
    def id_for_hash(self, content_hash: str) -> str | None:
        try:
            with open(os.path.join(self.by_hash, check_content_hash(content_hash)), "rb") as f:
                value = f.read().decode("utf-8", "replace").strip()
        except FileNotFoundError:
            return None
        return value if is_policy_id(value) else None

    def claim_hash(self, content_hash: str, policy_id: str, *, durable: bool = True) -> str:
        """Record ``policy_id`` for the hash unless another id got there first; return the winner."""
        target = os.path.join(self._writable(self.by_hash), check_content_hash(content_hash))
        os.makedirs(self.by_hash, exist_ok=True)
        # Written whole (and fsynced) before it gets its name: a claim is never seen empty.
        temp = write_temp_file(
            self.by_hash,
            (policy_id + "\n").encode(),
            prefix=".claim.",
            mode=0o600,
            durable=durable,
        )
        try:
            try:
                os.link(temp, target)
            except FileExistsError:
                winner = self.id_for_hash(content_hash)
                if winner is None or not os.path.exists(self.file_for(winner)):
                    os.replace(temp, target)  # the claim points at nothing: take it over
                    return policy_id
                return winner
        finally:
            remove_quietly(temp)
        return policy_id

    # ---- bindings ------------------------------------------------------------
    def _binding_log(self, policy_id: str) -> str:
        if not is_policy_id(policy_id):
            raise BadInput(f"{policy_id!r} is not a policy id")
        return os.path.join(self.binding_logs, f"{policy_id}.jsonl")

    def append_binding_op(self, policy_id: str, op: dict[str, Any]) -> None:
        self.append_binding_ops(policy_id, [op])

    def append_binding_ops(
        self, policy_id: str, ops: list[dict[str, Any]], *, durable: bool = True
    ) -> None:
        """Append operations to the snapshot's log in one write (``durable``: and one fsync)."""
        name = os.path.basename(self._binding_log(policy_id))
        path = os.path.join(self._writable(self.binding_logs), name)
        os.makedirs(self.binding_logs, exist_ok=True)
        lines = b"".join(_op_line(op) for op in ops)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            view = memoryview(lines)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)

    def binding_ops(self, policy_id: str) -> Iterator[dict[str, Any]]:
        try:
            with open(self._binding_log(policy_id), "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return
        if not raw:
            return
        import json

        for line in raw.splitlines():
            try:
                op = json.loads(line)
            except ValueError:
                continue  # a line torn by a kill mid-append
            if isinstance(op, dict):
                yield op

    def binding_log_ids(self) -> list[str]:
        try:
            names = os.listdir(self.binding_logs)
        except FileNotFoundError:
            return []
        return sorted(
            n[: -len(".jsonl")] for n in names if n.endswith(".jsonl") and is_policy_id(n[:-6])
        )


def ensure_excluded(common_dir: str | os.PathLike[str]) -> None:
    """Keep ``.speckit/`` out of commits through git's exclude file (idempotent)."""
    exclude = os.path.join(common_dir, "info", "exclude")
    try:
        with open(exclude, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        text = ""
    if any(
        line.strip() in (EXCLUDE_LINE, ".speckit/", ".speckit", "/.speckit")
        for line in text.splitlines()
    ):
        return
    addition = ("" if text.endswith("\n") or not text else "\n") + f"{EXCLUDE_LINE}\n"
    atomic_write(exclude, (text + addition).encode())


def _op_line(op: dict[str, Any]) -> bytes:
    """One log line: ``json.dumps(op, sort_keys=True, separators=(",", ":"))`` and a
    newline. Binding operations hold SHAs, times and words, which need no escaping: those
    are written without importing json (the hooks' path); anything else goes through it."""
    if all(isinstance(value, str) and _plain(value) and _plain(key) for key, value in op.items()):
        return ("{" + ",".join(f'"{key}":"{op[key]}"' for key in sorted(op)) + "}\n").encode()
    import json

    return (json.dumps(op, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _plain(text: str) -> bool:
    """Text that JSON writes as it is between quotes (printable ASCII, no quote or backslash)."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text
