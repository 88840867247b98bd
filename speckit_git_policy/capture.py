"""Capture: sources → snapshot, stored twice, bound to the commit it came from (docs/DESIGN.md §3, §5).

One snapshot per distinct content: the content hash is looked up first, and
when it is known, that snapshot is reused and only a binding is added.
"""

from __future__ import annotations

from speckit_git_policy import clock
from speckit_git_policy.errors import NotFound, PolicyInvalid, PolicyIssue
from speckit_git_policy.git.plumbing import changed_paths, object_infos, rev_list
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.ids import new_policy_id
from speckit_git_policy.policy.sources import (
    WORKTREE,
    SourcePaths,
    Sources,
    git_entries,
    read_sources,
    regular_blob_ids,
    source_paths,
)
from speckit_git_policy.snapshot import (
    TRIGGERS,
    Compiled,
    compile_sources,
    document_bytes_of,
)
from speckit_git_policy.store import Stores

# typing is for type checkers only: this module is on the commit hook's path (docs/DESIGN.md §10).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any


class CaptureResult:
    """What a capture did. A plain class, not a dataclass: importing dataclasses pulls
    inspect, ast and dis into every post-commit hook (docs/DESIGN.md §10)."""

    __slots__ = ("policy_id", "hash", "uri", "path", "commit", "created", "validated", "issues")

    def __init__(
        self,
        *,
        policy_id: str,
        hash: str,
        uri: str,
        path: str,
        commit: str | None,
        created: bool,
        validated: bool,
        issues: tuple[PolicyIssue, ...] = (),
    ) -> None:
        self.policy_id = policy_id
        self.hash = hash
        self.uri = uri
        self.path = path
        self.commit = commit
        self.created = created
        self.validated = validated
        self.issues = issues

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CaptureResult):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"CaptureResult({fields})"

    def as_json(self) -> dict[str, object]:
        return {
            "policy_id": self.policy_id,
            "hash": self.hash,
            "uri": self.uri,
            "path": self.path,
            "commit": self.commit,
            "created": self.created,
            "validated": self.validated,
        }


def worktree_matches_commit(
    repo: GitRepo,
    sources: Sources,
    commit: str,
    entries: dict[str, tuple[str, str, int | None]] | None = None,
) -> bool:
    """True when every source file in the work tree has the bytes it has in ``commit``.

    Compares object ids (one ``ls-tree``, or ``entries`` when the caller listed them
    already) instead of reading the committed files again; a symlink or other
    non-file entry takes the careful path.
    """
    if entries is None:
        entries = git_entries(repo, commit, sources.paths.all())
    if set(entries) == set(sources.files) and all(
        mode.startswith("100") for mode, _, _ in entries.values()
    ):
        return all(
            blob_id(sources.files[path], len(obj)) == obj for path, (_, obj, _) in entries.items()
        )
    try:
        committed = read_sources(repo, commit, sources.paths)
    except PolicyInvalid:
        return False
    return committed.files == sources.files


def blob_id(data: bytes, length: int) -> str:
    """The git object id of a blob holding ``data`` (SHA-1, or SHA-256 for 64-digit ids)."""
    from speckit_git_policy.hashing import sha1_hex, sha256_hex

    digest = sha256_hex if length == 64 else sha1_hex
    return digest(b"blob %d\0" % len(data) + data)


def read_for_capture(
    repo: GitRepo, commit: str | None, paths: SourcePaths | None = None
) -> tuple[Sources, str | None]:
    """Sources for a capture and the commit they were read at (None: uncommitted edits)."""
    paths = paths or source_paths(repo)
    if commit is not None:
        sha = repo.resolve_commit(commit)
        return read_sources(repo, sha, paths), sha
    sources = read_sources(repo, WORKTREE, paths)
    head = repo.head()
    if head is not None and worktree_matches_commit(repo, sources, head):
        return sources, head
    return sources, None


def capture(
    repo: GitRepo,
    *,
    commit: str | None = None,
    trigger: str = "manual",
    stores: Stores | None = None,
    paths: SourcePaths | None = None,
) -> CaptureResult:
    """Capture the policy from the work tree, or from ``commit``'s tree when given.

    A capture from ``commit`` binds it (``capture --commit`` makes up a missed
    capture); one from the work tree binds HEAD only when HEAD changed a source
    (docs/DESIGN.md §5: a commit that did not touch the policy carries no binding).
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    sources, sha = read_for_capture(repo, commit, paths)
    compiled = compile_sources(sources)
    bind = commit is not None or binds(repo, sha, sources.paths)
    return store_compiled(repo, compiled, sha, trigger, stores, bind=bind)


def binds(repo: GitRepo, commit: str | None, paths: SourcePaths) -> bool:
    """Whether a capture read at ``commit`` binds it: only a commit whose first-parent
    diff (all files for a root commit) changed a source gets a binding."""
    return commit is not None and bool(set(changed_paths(repo, commit)) & set(paths.all()))


def capture_commit_sha(
    repo: GitRepo, sha: str, trigger: str, paths: SourcePaths, stores: Stores | None = None
) -> CaptureResult:
    """Capture from a commit the caller already holds as a full SHA (the git hooks do).

    When pre-commit compiled exactly these source blobs, its compile is used
    (``compiled_cache``): same content, same hash, without parsing the policy again.
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    from speckit_git_policy.compiled_cache import recall

    entries = git_entries(repo, sha, paths.all())
    compiled = recall(repo, paths, regular_blob_ids(entries, paths.all()))
    if compiled is None:
        compiled = compile_sources(read_sources(repo, sha, paths, entries))
    return store_compiled(repo, compiled, sha, trigger, stores)


def store_compiled(
    repo: GitRepo,
    compiled: Compiled,
    sha: str | None,
    trigger: str,
    stores: Stores | None = None,
    *,
    bind: bool = True,
) -> CaptureResult:
    """Store the snapshot of ``compiled`` (or reuse the one of the same content), and
    bind ``sha`` to it unless ``bind`` is false: the result names ``sha`` either way."""
    stores = stores or Stores(repo)
    stores.prepare()
    # Opened first: the lookup by hash then reads through the capsule this capture writes
    # to anyway, not through a `git cat-file --batch` of its own (one process less).
    _ = stores.capsule
    existing = stores.find_by_hash(compiled.hash)
    created = False
    if existing is not None:
        policy_id = existing
        stores.ensure_copies(policy_id)
    else:
        policy_id = new_policy_id()
        created_at = clock.now()
        data = document_bytes_of(
            compiled, policy_id, created_at=created_at, commit=sha, trigger=trigger
        )
        stores.fs.write(policy_id, data)
        winner = stores.fs.claim_hash(compiled.hash, policy_id)
        if winner != policy_id:
            # Another process captured the same content a moment ago: use its snapshot.
            stores.fs.remove(policy_id)
            policy_id = winner
            stores.ensure_copies(policy_id)
        else:
            created = True
            if sha is not None and bind:
                # The new snapshot and its binding: the filesystem log first, then one
                # capsule commit holding both (docs/DESIGN.md §10).
                stores.store_bound(policy_id, compiled.hash, created_at, data, sha, built=True)
                bind = False
            elif stores.capsule is not None:
                stores.capsule.put_snapshot(policy_id, compiled.hash, created_at, data)
    if sha is not None and bind:
        stores.add_binding(policy_id, sha)
    return CaptureResult(
        policy_id=policy_id,
        hash=compiled.hash,
        uri=stores.uri(policy_id),
        path=stores.fs.relative_path(policy_id),
        commit=sha,
        created=created,
        validated=compiled.validated,
        issues=compiled.issues,
    )


# ---- the snapshot at HEAD ----------------------------------------------------------
def current(repo: GitRepo, stores: Stores) -> dict[str, Any]:
    """The snapshot of the sources as committed at HEAD, and whether the work tree drifted."""
    head = repo.head()
    if head is None:
        raise NotFound("HEAD has no commit yet: commit the policy sources first")
    from speckit_git_policy.compiled_cache import recall_hash, remember_hash

    paths = source_paths(repo)
    # HEAD's entries, listed once: read for the compile, compared for the drift.
    entries = git_entries(repo, head, paths.all())
    blob_ids = regular_blob_ids(entries, paths.all())
    content_hash = recall_hash(repo, paths, blob_ids)  # these blobs compiled before
    if content_hash is None:
        try:
            content_hash = compile_sources(read_sources(repo, head, paths, entries)).hash
        except PolicyInvalid as e:
            raise NotFound(f"HEAD ({head[:12]}) has no policy to show: {e}") from e
        remember_hash(repo, paths, blob_ids, content_hash)
    policy_id = stores.find_by_hash(content_hash)
    try:
        worktree = read_sources(repo, WORKTREE, paths)
        worktree_differs = not worktree_matches_commit(repo, worktree, head, entries)
    except PolicyInvalid:
        worktree_differs = True
    return {
        "policy_id": policy_id,
        "hash": content_hash,
        "commit": head,
        "drift": worktree_differs or policy_id is None,
        "uri": stores.uri(policy_id) if policy_id else None,
    }


def resolve_snapshot(repo: GitRepo, stores: Stores, text: str) -> str:
    """``current``, an id, a unique id prefix or a URI → policy id."""
    if text == "current":
        state = current(repo, stores)
        if state["policy_id"] is None:
            raise NotFound(
                f"the policy at HEAD ({state['commit'][:12]}) was never captured; "
                "run: git speckit-policy capture"
            )
        return str(state["policy_id"])
    return stores.resolve_id(text)


# ---- missed captures -------------------------------------------------------------
MISSED_CAPTURE_SCAN = 200  # recent commits that changed a source, checked by doctor/verify


def missed_captures(repo: GitRepo, limit: int = MISSED_CAPTURE_SCAN) -> list[str]:
    """Recent commits (newest first) that changed a source and hold a policy, but have no binding.

    Bounded: only the last ``limit`` commits that touched a source are looked at.
    Each is made up by ``git speckit-policy capture --commit <sha>``.
    """
    from speckit_git_policy.policy.sources import source_paths

    if repo.head() is None:
        return []
    paths = source_paths(repo)
    candidates = rev_list(repo, f"-n{int(limit)}", "HEAD", pathspecs=paths.all())
    if not candidates:
        return []
    # A commit that deleted the policy has nothing to capture.
    policies = object_infos(repo, [f"{sha}:{paths.policy}" for sha in candidates])
    candidates = [
        sha for sha, info in zip(candidates, policies) if info is not None and info.kind == "blob"
    ]
    if not candidates:
        return []
    from speckit_git_policy.store import Stores

    bound = Stores(repo).bound_among(candidates)
    return [sha for sha in candidates if sha not in bound]


def make_up_command(repo: GitRepo, sha: str, paths: SourcePaths | None = None) -> str | None:
    """The command that makes up a missed capture of ``sha``, as ``doctor``, ``verify``
    and the hooks print it: with ``--allow-invalid`` when its committed policy fails
    validation (``capture`` refuses it otherwise); None when it cannot be compiled at
    all (a new commit that fixes the policy gets the snapshot)."""
    try:
        compiled = compile_sources(read_sources(repo, sha, paths or source_paths(repo)))
    except PolicyInvalid:
        return None
    command = f"git speckit-policy capture --commit {sha[:12]}"
    return command if compiled.validated else f"{command} --allow-invalid"
