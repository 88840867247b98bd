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

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from speckit_git_policy.errors import BadInput
from speckit_git_policy.fileio import atomic_write, remove_quietly, write_temp_file
from speckit_git_policy.ids import check_content_hash, is_policy_id

SPECKIT_DIR = ".speckit"
EXCLUDE_LINE = "/.speckit/"


class FilesystemStore:
    """Snapshots, hash index and binding logs under ``<work tree>/.speckit``."""

    def __init__(self, work_tree: Path) -> None:
        self.work_tree = work_tree
        self.base = work_tree / SPECKIT_DIR
        self.policies = self.base / "policies"
        self.by_hash = self.base / "index" / "by-hash"
        self.binding_logs = self.base / "bindings"

    def _writable(self, directory: Path) -> Path:
        """``directory`` when it really lies under the work tree's ``.speckit/``: a
        ``.speckit`` symlink (committed in a cloned repository, say) must not make us
        write or delete files elsewhere (docs/DESIGN.md §10)."""
        try:
            inside = directory.resolve().is_relative_to(self.work_tree.resolve() / SPECKIT_DIR)
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop
            inside = False
        if not inside:
            raise BadInput(
                f"{directory}: a symlink leads it out of {SPECKIT_DIR}/; refusing to write there "
                f"(remove the link: {SPECKIT_DIR}/ is the tool's own directory)"
            )
        return directory

    # ---- snapshots -----------------------------------------------------------
    def path_for(self, policy_id: str) -> Path:
        if not is_policy_id(policy_id):
            raise BadInput(f"{policy_id!r} is not a policy id")
        return self.policies / f"snapshot-{policy_id}.json"

    def relative_path(self, policy_id: str) -> str:
        return f"{SPECKIT_DIR}/policies/snapshot-{policy_id}.json"

    def write(self, policy_id: str, data: bytes, *, durable: bool = True) -> Path:
        """Write the snapshot file atomically (``durable``: fsync'd too; a bulk writer
        that syncs once at the end passes False)."""
        path = self.path_for(policy_id)
        self._writable(path.parent)
        atomic_write(path, data, durable=durable)
        return path

    def read(self, policy_id: str) -> bytes | None:
        path = self.path_for(policy_id)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def remove(self, policy_id: str) -> None:
        try:
            os.unlink(self._writable(self.policies) / self.path_for(policy_id).name)
        except FileNotFoundError:
            pass

    def mark_pruned(self, policy_id: str) -> None:
        """Record that the copy was removed on purpose, so verify does not restore it."""
        atomic_write(self._writable(self.base / "pruned") / self.path_for(policy_id).name, b"")

    def is_pruned(self, policy_id: str) -> bool:
        return (self.base / "pruned" / self.path_for(policy_id).name).exists()

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
            value = (self.by_hash / check_content_hash(content_hash)).read_text().strip()
        except FileNotFoundError:
            return None
        return value if is_policy_id(value) else None

    def claim_hash(self, content_hash: str, policy_id: str, *, durable: bool = True) -> str:
        """Record ``policy_id`` for the hash unless another id got there first; return the winner."""
        target = self._writable(self.by_hash) / check_content_hash(content_hash)
        self.by_hash.mkdir(parents=True, exist_ok=True)
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
                if winner is None or not self.path_for(winner).exists():
                    os.replace(temp, target)  # the claim points at nothing: take it over
                    return policy_id
                return winner
        finally:
            remove_quietly(temp)
        return policy_id

    # ---- bindings ------------------------------------------------------------
    def _binding_log(self, policy_id: str) -> Path:
        if not is_policy_id(policy_id):
            raise BadInput(f"{policy_id!r} is not a policy id")
        return self.binding_logs / f"{policy_id}.jsonl"

    def append_binding_op(self, policy_id: str, op: dict[str, Any]) -> None:
        self.append_binding_ops(policy_id, [op])

    def append_binding_ops(
        self, policy_id: str, ops: list[dict[str, Any]], *, durable: bool = True
    ) -> None:
        """Append operations to the snapshot's log in one write (``durable``: and one fsync)."""
        path = self._writable(self.binding_logs) / self._binding_log(policy_id).name
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = b"".join(
            (json.dumps(op, sort_keys=True, separators=(",", ":")) + "\n").encode() for op in ops
        )
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
            raw = self._binding_log(policy_id).read_bytes()
        except FileNotFoundError:
            return
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


def ensure_excluded(common_dir: Path) -> None:
    """Keep ``.speckit/`` out of commits through git's exclude file (idempotent)."""
    exclude = common_dir / "info" / "exclude"
    try:
        text = exclude.read_text()
    except FileNotFoundError:
        text = ""
    if any(
        line.strip() in (EXCLUDE_LINE, ".speckit/", ".speckit", "/.speckit")
        for line in text.splitlines()
    ):
        return
    addition = ("" if text.endswith("\n") or not text else "\n") + f"{EXCLUDE_LINE}\n"
    atomic_write(exclude, (text + addition).encode())
