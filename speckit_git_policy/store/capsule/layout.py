"""Where each thing lives in the capsule: ref names, tree paths and ``mv2://`` URIs.

The reasons for this layout are in docs/CAPSULE-LAYOUT.md. In short: a small,
fixed set of refs per workspace (one for policies, 256 run shards), each pointing
at a commit whose tree fans out 16 ways per level by hex digits (of the id, hash
or commit in the policy tree; of sha256(run_id) in a run shard), so that no
lookup parses a ``packed-refs`` file or a tree whose size grows with the number
of snapshots or runs; a run's events are chunked by seq, so an append rewrites
trees of bounded size whatever the run's length.
"""

from __future__ import annotations

from speckit_git_policy.errors import BadInput
from speckit_git_policy.ids import (
    check_commit_id,
    check_content_hash,
    check_run_id,
    check_workspace,
    is_policy_id,
)

NAMESPACE = "refs/speckit"
REFSPEC = "refs/speckit/*:refs/speckit/*"
DEFAULT_WORKSPACE = "default"
URI_SCHEME = "mv2://"
URI_MAX = 512
EVENT_NAME_DIGITS = 10
# 16-way levels (one hex digit each) above a snapshot, binding, hash or commit in the
# policy tree: at 10,000 snapshots a leaf holds ~2.4 names and every tree on a
# lookup's path at most 16, as at 100 (docs/CAPSULE-LAYOUT.md, "Why this layout").
POLICY_FANOUT_LEVELS = 3
# Events per chunk tree of a run: an append rewrites one chunk (at most this many
# entries) and the run's tree of chunks (one entry per EVENTS_PER_CHUNK events).
EVENTS_PER_CHUNK = 256


def workspace_prefix(workspace: str) -> str:
    return f"{NAMESPACE}/{workspace}"


def policy_ref(workspace: str) -> str:
    return f"{workspace_prefix(workspace)}/policy"


def runs_prefix(workspace: str) -> str:
    return f"{workspace_prefix(workspace)}/runs"


def run_shard(run_id: str) -> str:
    """Two hex digits of sha256(run_id): spreads runs evenly over 256 refs whatever
    their naming scheme (sequential ids would all land in one shard by prefix)."""
    return run_path_digest(run_id)[:2]


def run_ref(workspace: str, run_id: str) -> str:
    return f"{runs_prefix(workspace)}/{run_shard(run_id)}"


def run_path_digest(run_id: str) -> str:
    """sha256(run_id) in hex: its first two digits name the shard, the next two the
    fan-out directories (``run_shard``, ``run_path``)."""
    from speckit_git_policy.hashing import sha256_hex

    return sha256_hex(run_id.encode("utf-8"))


def run_path(run_id: str) -> str:
    """The run's directory inside its shard's tree: two more 16-way levels by the
    next hex digits of sha256(run_id), so that every tree on a lookup's path stays
    at most 16 entries at 1,000 runs and at 100,000 (a shard's root would otherwise
    hold ~390 run names at 100,000 runs, and parsing it dominated a cold lookup)."""
    digest = run_path_digest(run_id)
    return f"{digest[2]}/{digest[3]}/{run_id}"


def fanout(key: str) -> str:
    """The fan-out directories of a hex-led key in the policy tree: its first
    POLICY_FANOUT_LEVELS hex digits, one per level (``"3fa8..."`` -> ``"3/f/a"``)."""
    return "/".join(key[:POLICY_FANOUT_LEVELS])


def snapshot_path(policy_id: str) -> str:
    return f"snapshots/{fanout(policy_id)}/{policy_id}.json"


def hash_index_dir(content_hash: str) -> str:
    return f"by-hash/{fanout(content_hash)}/{content_hash}"


def binding_path(policy_id: str) -> str:
    return f"bindings/{fanout(policy_id)}/{policy_id}.json"


def commit_index_dir(commit: str) -> str:
    return f"by-commit/{fanout(commit)}/{commit}"


def is_binding_path(path: tuple[str, ...]) -> bool:
    """``path`` (split on "/") names one snapshot's bindings blob."""
    return len(path) == POLICY_FANOUT_LEVELS + 2 and path[0] == "bindings"


def event_name(seq: int) -> str:
    return f"{seq:0{EVENT_NAME_DIGITS}d}.json"


def chunk_name(seq: int) -> str:
    """The chunk holding ``seq``, named by its first seq: names sort in seq order."""
    return f"{seq - seq % EVENTS_PER_CHUNK:0{EVENT_NAME_DIGITS}d}"


def event_path(run_id: str, seq: int) -> str:
    return f"{run_path(run_id)}/{chunk_name(seq)}/{event_name(seq)}"


def is_run_bucket(name: str) -> bool:
    """A fan-out directory of a run shard (one hex digit), as opposed to a run
    directory left at the shard's root by the earlier layout."""
    return len(name) == 1 and name in "0123456789abcdef"


def policy_id_from_name(name: str) -> str:
    return name.removesuffix(".json")


# ---- validation at the edge -----------------------------------------------------
def check_policy_id(policy_id: str) -> str:
    if not isinstance(policy_id, str) or not is_policy_id(policy_id):
        raise BadInput(f"{policy_id!r} is not a policy id (a lowercase uuid4)")
    return policy_id


def check_commit_sha(commit: str) -> str:
    return check_commit_id(commit)


def check_hash(content_hash: str) -> str:
    return check_content_hash(content_hash)


# ---- URIs ---------------------------------------------------------------------------
class CapsuleUri:
    """A parsed capsule URI. A plain class, not a dataclass: this module is on the
    commit hook's path, and dataclasses imports inspect, ast and dis (docs/DESIGN.md §10)."""

    __slots__ = ("workspace", "kind", "ident")

    def __init__(self, workspace: str, kind: str, ident: str) -> None:
        self.workspace = workspace
        self.kind = kind  # "policy" or "runs"
        self.ident = ident

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CapsuleUri):
            return NotImplemented
        return (self.workspace, self.kind, self.ident) == (other.workspace, other.kind, other.ident)

    def __hash__(self) -> int:
        return hash((self.workspace, self.kind, self.ident))

    def __repr__(self) -> str:
        return f"CapsuleUri(workspace={self.workspace!r}, kind={self.kind!r}, ident={self.ident!r})"

    def __str__(self) -> str:
        return f"{URI_SCHEME}{self.workspace}/{self.kind}/{self.ident}"


def policy_uri(workspace: str, policy_id: str) -> str:
    return str(CapsuleUri(workspace, "policy", check_policy_id(policy_id)))


def run_uri(workspace: str, run_id: str) -> str:
    return str(CapsuleUri(workspace, "runs", check_run_id(run_id)))


def uri_prefix(workspace: str, kind: str) -> str:
    """What every URI of ``kind`` ("policy" or "runs") in the workspace starts with, for
    the listings, which add ids they have checked already (``policy_uri`` and
    ``run_uri`` check each one again)."""
    return str(CapsuleUri(check_workspace(workspace), kind, ""))


def parse_uri(uri: str) -> CapsuleUri:
    """Parse ``mv2://<workspace>/(policy|runs)/<id>`` strictly: no dot segments,
    no escapes, no query; every part validated like the id it names."""
    if not isinstance(uri, str) or len(uri) > URI_MAX:
        raise BadInput("URI is not a string of at most 512 characters")
    if not uri.startswith(URI_SCHEME):
        raise BadInput(f"{uri!r} is not an {URI_SCHEME} URI")
    parts = uri[len(URI_SCHEME) :].split("/")
    if len(parts) != 3:
        raise BadInput(
            f"{uri!r}: expected {URI_SCHEME}<workspace>/policy/<id> or .../runs/<run_id>"
        )
    workspace, kind, ident = parts
    try:
        check_workspace(workspace)
        if kind == "policy":
            check_policy_id(ident)
        elif kind == "runs":
            check_run_id(ident)
        else:
            raise BadInput(f"unknown kind {kind!r} (expected 'policy' or 'runs')")
    except BadInput as e:
        raise BadInput(f"{uri!r}: {e.message}") from e
    return CapsuleUri(workspace, kind, ident)
