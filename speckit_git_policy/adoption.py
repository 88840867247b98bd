"""Adopting the tool in a repository with history (docs/DESIGN.md §5; the user's view:
docs/GUIDE.md, "Adopting the tool in a repository with history").

* ``adopt``: ``init``/``install`` in a repository whose HEAD carries a valid policy
  capture HEAD (trigger ``adoption``), so that the policy in force has a snapshot
  from the first day.
* ``history_gaps``: the commits older than the oldest bound commit in HEAD's history
  are *pre-adoption* history: reported with the fix, never a failure; a commit newer
  than that which changed a source and has no binding is a missed capture, as before.
* ``backfill``: capture every commit of HEAD's history that changed a source, oldest
  first, one snapshot per distinct content, idempotent.

Backfill does not start a process per commit: one ``rev-list`` gives the commits and
their parents, one ``diff-tree --stdin`` the source changes of each (with modes and
blob ids, so the state of the sources at every commit follows from its first
parent's), two ``cat-file`` calls the blobs of every distinct content; compiling is
in process, and the stores take the new snapshots and the bindings in bulk (one
capsule commit for each).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from speckit_git_policy import clock
from speckit_git_policy.capture import (
    MISSED_CAPTURE_SCAN,
    CaptureResult,
    missed_captures,
    store_compiled,
)
from speckit_git_policy.errors import NotFound, PolicyInvalid, PolicyIssue
from speckit_git_policy.git.plumbing import (
    commit_graph,
    first_parent_changes,
    object_infos,
    read_objects,
    rev_list,
    tree_entries,
)
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.ids import new_policy_id
from speckit_git_policy.policy.sources import (
    MAX_SOURCE_BYTES,
    SourcePaths,
    Sources,
    read_sources,
    source_paths,
)
from speckit_git_policy.snapshot import Compiled, compile_sources, document_bytes_of
from speckit_git_policy.store import Stores

Progress = Callable[[int, int], None]
# (mode, blob id) of each source (in SourcePaths.all() order) at a commit; None: absent.
State = tuple[tuple[str, str] | None, ...]


# ---- HEAD's history as one walk -------------------------------------------------------
class History:
    """Every commit a ``rev-list --topo-order`` walk reached, with its time and parents."""

    def __init__(self, graph: list[tuple[int, str, tuple[str, ...]]]) -> None:
        self.newest_first = [sha for _time, sha, _parents in graph]  # children before parents
        self.parents = {sha: parents for _time, sha, parents in graph}
        self.time = {sha: time for time, sha, _parents in graph}
        self.depth = {sha: position for position, sha in enumerate(self.newest_first)}

    @classmethod
    def walk(cls, repo: GitRepo, *revisions: str) -> History:
        return cls(commit_graph(repo, "--topo-order", *revisions))

    def __contains__(self, sha: object) -> bool:
        return sha in self.parents

    def ancestors(self, sha: str) -> set[str]:
        """The commits ``sha`` reaches (itself excluded), within the walk."""
        seen: set[str] = set()
        todo = list(self.parents.get(sha, ()))
        while todo:
            commit = todo.pop()
            if commit not in seen and commit in self.parents:
                seen.add(commit)
                todo.extend(self.parents[commit])
        return seen

    def oldest(self, commits: Iterable[str]) -> str:
        """The oldest of ``commits`` by commit time; of equal times, the deepest in the walk."""
        return min(commits, key=lambda sha: (self.time[sha], -self.depth[sha]))

    def tips(self, commits: set[str]) -> list[str]:
        """Those of ``commits`` no other of them reaches: made parents of a capsule commit,
        they keep all of ``commits`` reachable."""
        reached: set[str] = set()
        for sha in self.newest_first:  # a child always comes before its parents
            if sha in commits or sha in reached:
                reached.update(self.parents[sha])
        return [sha for sha in self.newest_first if sha in commits and sha not in reached]


def _has_policy(repo: GitRepo, commits: list[str], paths: SourcePaths) -> list[str]:
    """Those of ``commits`` whose tree holds the policy file (one ``cat-file`` call)."""
    infos = object_infos(repo, [f"{sha}:{paths.policy}" for sha in commits])
    return [sha for sha, info in zip(commits, infos) if info is not None and info.kind == "blob"]


# ---- pre-adoption history and missed captures -------------------------------------------
@dataclass
class Gaps:
    """Commits of HEAD's history that changed a source and carry no binding."""

    missed: list[str] = field(default_factory=list)  # newer than the adoption point
    uncapturable: list[tuple[str, str]] = field(default_factory=list)  # (commit, why)
    pre_adoption: list[str] = field(default_factory=list)  # older: `backfill` captures them
    adoption: str | None = None  # the oldest bound commit in HEAD's history


def history_gaps(
    repo: GitRepo, stores: Stores | None = None, limit: int = MISSED_CAPTURE_SCAN
) -> Gaps:
    """Missed captures, split from pre-adoption history.

    The last ``limit`` commits that changed a source are checked, as ``missed_captures``
    does; only when some lack a binding is HEAD's history walked (one ``rev-list``) to
    find the adoption point. A missed commit whose sources cannot be compiled (a
    policy that does not parse, a source missing) is listed apart: no capture can make
    it up, so it is reported without failing.
    """
    unbound = missed_captures(repo, limit)
    if not unbound:
        return Gaps()
    stores = stores or Stores(repo)
    everywhere = stores.bound_commits()
    if not everywhere:
        return Gaps(missed=unbound)  # never adopted: every such commit is a missed capture
    history = History.walk(repo, "HEAD")
    bound = {sha for sha in everywhere if sha in history}
    if not bound:
        return Gaps(missed=unbound)
    adoption = history.oldest(bound)
    below = history.ancestors(adoption)
    paths = source_paths(repo)
    gaps = Gaps(adoption=adoption)
    after = [sha for sha in unbound if sha not in below]
    for sha, state in zip(after, _compilable(repo, after, paths)):
        if state is None:
            gaps.missed.append(sha)
        else:
            gaps.uncapturable.append((sha, state))
    if any(sha in below for sha in unbound):
        # All of them, not only the last ``limit``: the note says how many backfill takes.
        older = rev_list(repo, *history.parents[adoption], pathspecs=paths.all())
        gaps.pre_adoption = [sha for sha in _has_policy(repo, older, paths) if sha not in bound]
    return gaps


def _compilable(repo: GitRepo, commits: list[str], paths: SourcePaths) -> list[str | None]:
    """For each commit: None when its sources compile into a snapshot, else why not."""
    if not commits:
        return []
    reader = _SourceReader(repo, paths)
    results: list[str | None] = []
    for sources in reader.read_many(commits):
        if isinstance(sources, PolicyInvalid):
            results.append(_reason(sources))
            continue
        try:
            compile_sources(sources)
        except PolicyInvalid as e:
            results.append(_reason(e))
        else:
            results.append(None)
    return results


def _reason(error: PolicyInvalid) -> str:
    first: PolicyIssue = error.issues[0]
    more = f" (+{len(error.issues) - 1} more)" if len(error.issues) > 1 else ""
    return f"{first.render()}{more}"


# ---- reading the sources of many commits ---------------------------------------------------
class _SourceReader:
    """The sources of many commits, read in a fixed number of git calls: the blob ids of
    each source (``cat-file --batch-check``), then the blobs of every distinct content
    (``cat-file --batch``). A source that is not a regular file (a symlink, say) takes
    ``read_sources``'s careful path for that commit."""

    def __init__(self, repo: GitRepo, paths: SourcePaths) -> None:
        self.repo = repo
        self.paths = paths
        self.names = paths.all()

    def _state_of(self, sha: str) -> State:
        found = tree_entries(self.repo, sha, self.names)
        return tuple(
            (found[name][0], found[name][1]) if name in found else None for name in self.names
        )

    def read_many(
        self, commits: list[str], states: dict[str, State] | None = None
    ) -> list[Sources | PolicyInvalid]:
        """The sources of each commit, or why they cannot be read (PolicyInvalid)."""
        if states is None:
            states = {sha: self._state_of(sha) for sha in dict.fromkeys(commits)}
        return self.read_states([(sha, states[sha]) for sha in commits])

    def read_states(self, items: list[tuple[str, State]]) -> list[Sources | PolicyInvalid]:
        """The sources at each (commit, state): blobs of regular files in two ``cat-file``
        calls for them all, whatever the number of commits."""
        regular = {
            entry[1]
            for _sha, state in items
            for entry in state
            if entry is not None and entry[0].startswith("100")
        }
        wanted = sorted(regular)
        sizes = {info.oid: info.size for info in object_infos(self.repo, wanted) if info}
        small = [oid for oid in wanted if sizes.get(oid, MAX_SOURCE_BYTES + 1) <= MAX_SOURCE_BYTES]
        blobs = {
            info.oid: info.data for info in read_objects(self.repo, small) if info and info.data
        }
        blobs.update({oid: b"" for oid in small if sizes.get(oid) == 0})
        results: list[Sources | PolicyInvalid] = []
        for sha, state in items:
            results.append(self._sources(sha, state, sizes, blobs))
        return results

    def _sources(
        self, sha: str, state: State, sizes: dict[str, int], blobs: dict[str, bytes]
    ) -> Sources | PolicyInvalid:
        if any(entry is not None and not entry[0].startswith("100") for entry in state):
            try:
                return read_sources(self.repo, sha, self.paths)  # a symlink inside the repo...
            except PolicyInvalid as e:
                return e
        files: dict[str, bytes] = {}
        issues: list[PolicyIssue] = []
        for name, entry in zip(self.names, state):
            if entry is None:
                issues.append(PolicyIssue(name, None, "", "required policy source file is missing"))
            elif sizes.get(entry[1], 0) > MAX_SOURCE_BYTES:
                issues.append(
                    PolicyIssue(
                        name,
                        None,
                        "",
                        f"file is {sizes[entry[1]]} bytes; a policy source may be at most "
                        f"{MAX_SOURCE_BYTES}",
                    )
                )
            elif entry[1] in blobs:
                files[name] = blobs[entry[1]]
            else:
                issues.append(PolicyIssue(name, None, "", f"cannot be read from commit {sha[:12]}"))
        if issues:
            return PolicyInvalid(issues)
        blob_ids = {name: entry[1] for name, entry in zip(self.names, state) if entry is not None}
        return Sources(paths=self.paths, files=files, origin=sha, blob_ids=blob_ids)


# ---- adoption ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Adoption:
    """What ``init``/``install`` did about the history already there."""

    status: str  # adopted, already, unborn, no_policy, invalid
    message: str
    commit: str | None = None  # HEAD, when adopted now; the adoption point when already
    capture: CaptureResult | None = None
    earlier: int = 0  # commits before it that changed a source: what `backfill` takes

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "commit": self.commit,
            "policy_id": self.capture.policy_id if self.capture else None,
            "created": self.capture.created if self.capture else False,
            "earlier": self.earlier,
        }


BACKFILL_HINT = "git speckit-policy backfill"


def adopt(repo: GitRepo, stores: Stores | None = None) -> Adoption:
    """Capture HEAD's policy (trigger ``adoption``) when it is valid and no commit of its
    history carries a binding yet; otherwise say why nothing was done. Idempotent.

    The snapshot is bound to the newest commit of HEAD's history that changed a source
    (its sources are HEAD's), not to HEAD itself: only a commit that changed a source
    is ever bound (docs/DESIGN.md §5), so ``log`` and ``trace`` never name a commit
    that did not touch the policy."""
    head = repo.head()
    if head is None:
        return Adoption("unborn", "no commit yet: the first policy commit will be captured")
    stores = stores or Stores(repo)
    paths = source_paths(repo)
    point = adoption_point(repo, stores, head)
    if point is not None:
        return Adoption("already", f"adopted at {point[:12]}", commit=point)
    changed = rev_list(repo, "HEAD", pathspecs=paths.all())
    target = changed[0] if changed else head
    try:
        compiled = compile_sources(read_sources(repo, target, paths))
    except PolicyInvalid as e:
        if all(issue.message.endswith("is missing") for issue in e.issues):
            return Adoption("no_policy", f"HEAD has no policy to capture yet ({_reason(e)})")
        return Adoption("invalid", f"HEAD's policy cannot be compiled: {_reason(e)}")
    if not compiled.validated:
        return Adoption(
            "invalid",
            f"HEAD's policy does not pass validation ({len(compiled.issues)} problem(s): "
            "git speckit-policy validate); fix and commit it, then run install again",
        )
    result = store_compiled(repo, compiled, target, "adoption", stores)
    earlier = [sha for sha in changed if sha != target]
    message = (
        f"captured HEAD's policy (last changed by {target[:12]}) as snapshot {result.policy_id[:8]}"
    )
    if earlier:
        message += (
            f"; {len(earlier)} earlier commit(s) changed the policy before adoption: "
            f"{BACKFILL_HINT} captures them"
        )
    return Adoption("adopted", message, commit=target, capture=result, earlier=len(earlier))


def adoption_point(repo: GitRepo, stores: Stores, head: str) -> str | None:
    """The oldest bound commit in ``head``'s history, or None when there is none."""
    bound = stores.bound_commits()
    if not bound:
        return None
    history = History.walk(repo, head)
    found = [sha for sha in bound if sha in history]
    return history.oldest(found) if found else None


# ---- backfill ------------------------------------------------------------------------------
@dataclass
class Backfill:
    """What ``backfill`` did: snapshots captured, commits bound, commits it had to skip."""

    captured: int = 0  # new snapshots
    reused: int = 0  # commits bound to a snapshot of the same content, not new for them
    commits: list[dict[str, Any]] = field(default_factory=list)  # bound now, oldest first
    already_bound: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"commit", "reason"}

    def as_json(self) -> dict[str, Any]:
        return {
            "captured": self.captured,
            "reused": self.reused,
            "commits": self.commits,
            "already_bound": self.already_bound,
            "skipped": self.skipped,
        }


def backfill(
    repo: GitRepo,
    *,
    since: str | None = None,
    stores: Stores | None = None,
    progress: Progress | None = None,
) -> Backfill:
    """Capture every commit of HEAD's history that changed a source (``since``: only
    from that commit on, itself included), oldest first, each bound to the snapshot of
    its content; a commit bound already is left as it is, so a second run does nothing.

    A commit whose sources cannot be compiled (a source missing, TOML that does not
    parse) is skipped and listed; one whose policy compiles but fails validation is
    captured, marked, as the post-commit hook would have done.
    """
    head = repo.head()
    if head is None:
        raise NotFound("HEAD has no commit yet: there is no history to backfill")
    stores = stores or Stores(repo)
    stores.prepare()
    paths = source_paths(repo)
    revisions = ["HEAD"]
    if since is not None:
        start = repo.resolve_commit(since)
        revisions += ["--not", f"{start}^@"]
    history = History.walk(repo, *revisions)
    oldest_first = history.newest_first[::-1]
    changes = first_parent_changes(repo, oldest_first, paths.all())
    touched = [sha for sha in oldest_first if sha in changes]
    result = Backfill()
    bound = stores.bound_commits()
    todo = [sha for sha in touched if sha not in bound]
    result.already_bound = len(touched) - len(todo)
    if not todo:
        return result
    states = _states(repo, oldest_first, history, changes, paths)
    reader = _SourceReader(repo, paths)
    # One compile per distinct state of the sources (same blobs: same content).
    groups: dict[State, list[str]] = {}
    for sha in todo:
        groups.setdefault(states[sha], []).append(sha)
    items = list(groups.items())
    read = reader.read_states([(commits[0], state) for state, commits in items])
    compiled_groups: list[tuple[Compiled, list[str]]] = []
    for number, ((_state, commits), sources) in enumerate(zip(items, read), start=1):
        try:
            if isinstance(sources, PolicyInvalid):
                raise sources
            compiled_groups.append((compile_sources(sources), commits))
        except PolicyInvalid as e:
            reason = _reason(e)
            result.skipped += [{"commit": sha, "reason": reason} for sha in commits]
        if progress is not None:
            progress(number, len(items))
    position = {sha: index for index, sha in enumerate(oldest_first)}
    result.skipped.sort(key=lambda item: position[item["commit"]])
    pairs = _store_snapshots(repo, stores, compiled_groups, result)
    fresh = set(
        stores.add_bindings(pairs, reachable=history.tips({c for _, c in pairs}), durable=False)
    )
    # The files were written without an fsync each (hundreds cost seconds): one sync
    # makes them all durable before backfill says it is done. A crash before it leaves
    # whole files or none (every write is a rename) or, after a power loss, a copy that
    # `verify --repair` restores from the other.
    os.sync()
    result.commits.sort(key=lambda item: position[item["commit"]])
    result.commits = [
        item for item in result.commits if (item["policy_id"], item["commit"]) in fresh
    ]
    result.reused = len(result.commits) - result.captured
    return result


def _store_snapshots(
    repo: GitRepo,
    stores: Stores,
    groups: list[tuple[Compiled, list[str]]],
    result: Backfill,
) -> list[tuple[str, str]]:
    """A snapshot for every content (the one stored already, else a new one: filesystem
    first, then the capsule in one commit); the (policy_id, commit) pairs to bind."""
    by_hash: dict[str, str] = {}
    new: list[tuple[str, str, str, bytes]] = []
    pairs: list[tuple[str, str]] = []
    created_at: str | None = None
    # In order of each content's oldest commit, so that created_at follows the history.
    for compiled, commits in groups:
        policy_id = by_hash.get(compiled.hash) or stores.find_by_hash(compiled.hash)
        created = False
        if policy_id is not None:
            if compiled.hash not in by_hash:
                stores.ensure_copies(policy_id)
        else:
            policy_id = new_policy_id()
            created_at = clock.after(created_at)
            data = document_bytes_of(
                compiled, policy_id, created_at=created_at, commit=commits[0], trigger="backfill"
            )
            stores.fs.write(policy_id, data, durable=False)
            winner = stores.fs.claim_hash(compiled.hash, policy_id, durable=False)
            if winner != policy_id:  # another process captured this content a moment ago
                stores.fs.remove(policy_id)
                policy_id = winner
                stores.ensure_copies(policy_id)
            else:
                created = True
                new.append((policy_id, compiled.hash, created_at, data))
                result.captured += 1
        by_hash[compiled.hash] = policy_id
        for index, sha in enumerate(commits):
            pairs.append((policy_id, sha))
            result.commits.append(
                {"commit": sha, "policy_id": policy_id, "created": created and index == 0}
            )
    if new and stores.capsule is not None:
        stores.capsule.put_snapshots(new)
    return pairs


def _states(
    repo: GitRepo,
    oldest_first: list[str],
    history: History,
    changes: dict[str, list[tuple[str, str, str, str, str, tuple[str, ...]]]],
    paths: SourcePaths,
) -> dict[str, State]:
    """The state of the sources at every commit of the walk: its first parent's, with
    the commit's own changes applied (parents come before children in ``oldest_first``).
    A first parent outside the walk (``--since``) is asked of git once."""
    names = paths.all()
    index = {name: position for position, name in enumerate(names)}
    empty: State = tuple(None for _ in names)
    states: dict[str, State] = {}
    outside: dict[str, State] = {}
    for sha in oldest_first:
        parents = history.parents[sha]
        if not parents:
            base = empty
        elif parents[0] in states:
            base = states[parents[0]]
        else:
            first = parents[0]
            if first not in outside:
                found = tree_entries(repo, first, names)
                outside[first] = tuple(
                    (found[name][0], found[name][1]) if name in found else None for name in names
                )
            base = outside[first]
        records = changes.get(sha)
        if records:
            state = list(base)
            for status, _old_mode, new_mode, _old_id, new_id, record_paths in records:
                path = record_paths[-1]
                if path in index:
                    deleted = status == "D" or set(new_mode) == {"0"}
                    state[index[path]] = None if deleted else (new_mode, new_id)
            states[sha] = tuple(state)
        else:
            states[sha] = base
    return states
