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

from speckit_git_policy.git.batch import ObjectReader
from speckit_git_policy.git.plumbing import parse_ls_tree
from speckit_git_policy.ids import check_workspace, is_policy_id
from speckit_git_policy.store.capsule import layout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from speckit_git_policy.git.repo import GitRepo
    from speckit_git_policy.store.bindings import Binding

# The capsule's write limits (capsule.py), here so that reading needs no dulwich.
SNAPSHOT_MAX_BYTES = 16 * 1024 * 1024
BINDINGS_MAX_BYTES = 16 * 1024 * 1024


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

    def _list(self) -> dict[str, dict[str, tuple[str, int]]]:
        ref = layout.policy_ref(self.workspace)
        out = self.repo.git(
            "ls-tree", "-r", "-l", "-z", "--full-tree", ref, "--", "snapshots", "bindings",
            check=False,
        )  # fmt: skip
        found: dict[str, dict[str, tuple[str, int]]] = {"snapshots": {}, "bindings": {}}
        depth = layout.POLICY_FANOUT_LEVELS + 2
        for _mode, kind, oid, size, path in parse_ls_tree(out):
            parts = path.split("/")
            if kind != "blob" or size is None or len(parts) != depth or parts[0] not in found:
                continue
            name = parts[-1]
            if not name.endswith(".json"):
                continue
            policy_id = layout.policy_id_from_name(name)
            if not is_policy_id(policy_id):
                continue
            # A name filed under the wrong fan-out is not where a lookup would find it.
            if "/".join(parts[1:-1]) != layout.fanout(policy_id):
                continue
            found[parts[0]][policy_id] = (oid, size)
        return found

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
        """Every bound snapshot's bindings, as ``Capsule.all_bindings``."""
        from speckit_git_policy.errors import SnapshotCorrupt
        from speckit_git_policy.store import bindings as binding_ops

        ids = sorted(self.leaves("bindings"))
        data = self.blobs("bindings", ids, BINDINGS_MAX_BYTES)
        result: dict[str, list[Binding]] = {}
        for policy_id in ids:
            where = f"{layout.policy_uri(self.workspace, policy_id)} bindings"
            raw = data[policy_id]
            if raw is None:
                raise SnapshotCorrupt(where, "the bindings blob cannot be read (too big?)")
            result[policy_id] = binding_ops.load_bindings(raw, where)
        return result
