"""push/pull of the capsule through any git remote, and the capsule plain git fetches
(docs/DESIGN.md §4; docs/CAPSULE-LAYOUT.md, "Sync").

The transport is plain git. Each remote fetches the capsule into a tracking namespace of
its own, ``+refs/speckit/*:refs/speckit-remotes/<remote>/*`` (``install`` configures it),
so plain ``git fetch`` and ``git pull`` bring it and can neither change nor fail on the
local capsule. What was fetched joins the local capsule only through ``merge_fetched``:
the door (``inspect``), the union where local entries win (``merge``), then one
compare-and-swap per local ref.

* ``pull`` fetches a remote's capsule (a remote name, any URL git takes, a path or a
  bundle file) into a private staging namespace and merges it; staging refs that a
  killed pull left behind are swept by the next one.
* ``absorb`` merges what plain git fetched: the tracking tips are compared with the tips
  last merged (a file in the git dir), so a command that finds nothing new pays one read
  of the ref files and starts no git process.
* ``push`` pushes ``refs/speckit/*``, never forced; a ref the remote rejects as a
  non-fast-forward is pulled, merged and pushed again, with bounded retries and jittered
  back-off. With ``speckit.sign`` every ref gets a signed seal first (``seals``).
"""

from __future__ import annotations

import os

from speckit_git_policy.errors import BadInput, GitError, NotFound, RemoteRefused
from speckit_git_policy.fileio import atomic_write
from speckit_git_policy.git import plumbing
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store.capsule.layout import NAMESPACE, REFSPEC

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from speckit_git_policy.store.capsule.inspect import CapsuleRef, Inspection, Refusal
    from speckit_git_policy.store.capsule.objects import ObjectIO, RefUpdater

TRACKING = "refs/speckit-remotes"
STAGING = "refs/speckit-pull"
# A push rejected as a non-fast-forward (another clone pushed first) pulls, merges and
# tries again; at 8 clones pushing at once a push has seen at most a few rejections.
PUSH_ATTEMPTS = 20
PUSH_BACKOFF_SECONDS = 0.05
PUSH_BACKOFF_MAX = 2.0
# Refusals that keep their commit out of our history: objects git itself calls malformed
# (a ".." entry, a symlink where a file belongs) or oversized would otherwise stay
# reachable, and travel with every push, for ever. Content that is merely invalid (a
# corrupted snapshot, bindings that do not parse) is refused too, but their commit may
# still be a parent: the union, pushed back, then repairs the remote.
TAINTING_KINDS = ("outside-layout", "bad-mode", "too-big")
_RETRYABLE = (
    "non-fast-forward",
    "fetch first",
    "stale info",
    "cannot lock ref",
    "failed to update ref",
)


# ---- where to sync with ------------------------------------------------------------------
def tracking_refspec(remote: str) -> str:
    """The fetch refspec ``install`` gives each remote: the capsule into its own namespace."""
    return f"+{NAMESPACE}/*:{TRACKING}/{remote}/*"


def resolve_remote(repo: GitRepo, remote: str | None = None) -> str:
    """What to give git: the remote given, else the current branch's upstream, else
    ``origin``; a URL (``ssh://``, ``https://``, ``file://``, scp-like ``host:path``) as
    it is; an existing path (a repository or a bundle file) made absolute; a path
    ending in ``.bundle`` (``push`` creates it)."""
    names = repo.remotes()
    if remote is None:
        remote = _upstream_remote(repo) or "origin"
    if remote in names:
        return remote
    if not remote or remote.startswith("-") or any(ch in remote for ch in "\0\n\r"):
        raise BadInput(f"{remote!r} is not a remote name, URL or path")
    if "://" in remote:
        return remote
    if os.path.exists(remote) or remote.endswith(".bundle"):
        return os.path.abspath(remote)
    if _is_scp_like(remote):
        return remote
    raise NotFound(f"no remote named {remote!r} (git remote lists: {', '.join(names) or 'none'})")


def _is_scp_like(text: str) -> bool:
    """``[user@]host:path`` as git reads it: a colon before any slash."""
    host, colon, _path = text.partition(":")
    return bool(colon) and bool(host) and "/" not in host


def _is_bundle(source: str) -> bool:
    return os.path.isabs(source) and (os.path.isfile(source) or source.endswith(".bundle"))


def _upstream_remote(repo: GitRepo) -> str | None:
    branch = repo.current_branch()
    if branch is None:
        return None
    remote = repo.config_get(f"branch.{branch}.remote")
    return remote if remote and remote != "." else None


# ---- pull ------------------------------------------------------------------------------
def pull(
    repo: GitRepo, remote: str | None = None, progress: Callable[[int, int], None] | None = None
) -> dict[str, object]:
    """Fetch a remote's capsule and merge it into ours through the door, without loss.

    Returns {"remote", "refs": {ref: "created" | "fast-forward" | "merged" | "up-to-date" |
    "refused"}, "refused": [{"ref", "path", "kind", "reason"}]}: what the remote sent that
    did not join (a ref or an entry refused at the door, what it dropped or changed).
    """
    source = resolve_remote(repo, remote)
    if _is_bundle(source) and not os.path.isfile(source):
        raise NotFound(f"{source}: no such bundle file")
    staging = f"{STAGING}/{os.getpid()}-{os.urandom(6).hex()}"
    listed: dict[str, tuple[str, str, int]] | None = None
    try:
        repo.git(
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            source,
            f"+{NAMESPACE}/*:{staging}/*",
        )
        # One listing serves both: what this pull staged, and what killed pulls left.
        listed = plumbing.list_typed_refs(repo, STAGING)
        prefix = staging + "/"
        fetched = {
            name[len(prefix) :]: value for name, value in listed.items() if name.startswith(prefix)
        }
        statuses, refused = merge_fetched(repo, fetched, source, progress)
    finally:
        if listed is None:
            sweep_staging(repo)
        else:
            _delete_refs(repo, [n for n in listed if n.startswith(staging + "/") or _stale(n)])
    return {"remote": source, "refs": statuses, "refused": refused}


def sweep_staging(repo: GitRepo) -> list[str]:
    """Delete the staging refs of pulls that are no longer running (killed ones)."""
    stale = [name for name in plumbing.list_refs(repo, STAGING) if _stale(name)]
    _delete_refs(repo, stale)
    return stale


def _stale(name: str) -> bool:
    """A staging ref (``refs/speckit-pull/<pid>-<random>/...``) whose pull is not running."""
    pid = name[len(STAGING) + 1 :].split("/", 1)[0].split("-", 1)[0]
    return not (pid.isdigit() and _alive(int(pid)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def merge_fetched(
    repo: GitRepo,
    fetched: dict[str, str] | dict[str, tuple[str, str, int]],
    source: str,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, str], list[Refusal]]:
    """Merge fetched capsule tips (named relative to ``refs/speckit/``; an object id, or
    (id, type, size) as ``for-each-ref`` gives them) into the local refs: ref → outcome,
    and everything refused on the way. The door inspects every ref that has something new
    in one batch (``inspect.inspect_trees``); each ref then moves by compare-and-swap."""
    from speckit_git_policy.store.capsule import inspect, seals
    from speckit_git_policy.store.capsule.objects import (
        ObjectIO,
        RefUpdater,
        capsule_repo,
        ref_bytes,
    )

    dulwich_repo = capsule_repo(repo)
    io, refs = ObjectIO(dulwich_repo), RefUpdater(dulwich_repo)
    require_signed = seals.signatures_required(repo)
    names = sorted(fetched)
    typed = _typed(repo, fetched, names)
    statuses: dict[str, str] = {}
    refused: list[Refusal] = []
    candidates: list[_Candidate] = []
    for relative in names:
        local, (tip, kind, size) = f"{NAMESPACE}/{relative}", typed[relative]
        ref = inspect.parse_ref(relative)
        problem: tuple[str, str] | None = None
        if ref is None:
            problem = (inspect.UNKNOWN_REF, "not a ref of the capsule layout")
        elif kind != "commit":
            problem = (inspect.NOT_A_COMMIT, f"points at a {kind}, not a capsule commit")
        elif size > inspect.OBJECT_LIMIT:
            problem = (inspect.TOO_BIG, f"a commit of {size} bytes")
        else:
            ours = refs.read(ref_bytes(local))
            base = (
                repo.merge_base(ours.decode(), tip)
                if ours is not None and ours.decode() != tip
                else None
            )
            if ours is not None and (ours.decode() == tip or base == tip):
                statuses[local] = "up-to-date"  # theirs is already in our history
                continue
            if require_signed:
                reason = seals.signature_problem(repo, io, tip)
                problem = (inspect.UNSIGNED, reason) if reason else None
            if problem is None:
                assert ref is not None
                candidates.append(_Candidate(ref, tip, ours, base))
        if problem is not None:
            statuses[local] = "refused"
            refused.append(inspect.refusal(local, None, problem[0], f"{tip[:12]}: {problem[1]}"))
    jobs = [
        (
            c.ref,
            io.commit_tree(c.ours).decode() if c.ours is not None else None,
            io.commit_tree(c.tip.encode()).decode(),
        )
        for c in candidates
    ]
    for candidate, inspection in zip(candidates, inspect.inspect_trees(repo, jobs)):
        candidate.inspection = inspection
    for number, candidate in enumerate(candidates, start=1):
        status, ref_refused = _merge_ref(repo, io, refs, candidate, source)
        statuses[candidate.ref.name] = status
        refused.extend(ref_refused)
        if progress is not None:
            progress(number, len(candidates))
    _record_refusals(repo, source, set(statuses), refused)
    return statuses, refused


def _typed(
    repo: GitRepo, fetched: dict[str, str] | dict[str, tuple[str, str, int]], names: list[str]
) -> dict[str, tuple[str, str, int]]:
    """Each tip with its object's type and size (asked of git when not given)."""
    untyped = [name for name in names if isinstance(fetched[name], str)]
    infos = plumbing.object_infos(repo, [str(fetched[name]) for name in untyped])
    typed: dict[str, tuple[str, str, int]] = {}
    for name, info in zip(untyped, infos):
        oid = str(fetched[name])
        typed[name] = (
            (oid, info.kind, info.size) if info is not None else (oid, "missing object", 0)
        )
    for name in names:
        value = fetched[name]
        if not isinstance(value, str):
            typed[name] = value
    return typed


class _Candidate:
    """A fetched tip with something new for us, and what was found out about it."""

    __slots__ = ("ref", "tip", "ours", "base", "inspection")

    def __init__(self, ref: CapsuleRef, tip: str, ours: bytes | None, base: str | None) -> None:
        self.ref = ref
        self.tip = tip
        self.ours = ours
        self.base = base
        self.inspection: Inspection | None = None


def _merge_ref(
    repo: GitRepo, io: ObjectIO, refs: RefUpdater, candidate: _Candidate, source: str
) -> tuple[str, list[Refusal]]:
    from speckit_git_policy.store.capsule.inspect import inspect_tree
    from speckit_git_policy.store.capsule.merge import merge_inspected
    from speckit_git_policy.store.capsule.objects import commit_identity, ref_bytes

    ref, theirs_hex = candidate.ref, candidate.tip
    theirs = theirs_hex.encode()
    outcome = "up-to-date"
    refused: list[Refusal] = []

    def compute(ours: bytes | None) -> bytes | None:
        nonlocal outcome
        outcome = "up-to-date"
        refused.clear()
        if ours == theirs:
            return None
        ours_tree = io.commit_tree(ours) if ours is not None else None
        theirs_tree = io.commit_tree(theirs)
        if ours == candidate.ours and candidate.inspection is not None:
            base, inspection = candidate.base, candidate.inspection  # found out in the batch
        else:  # another writer moved our ref since: look again
            base = repo.merge_base(ours.decode(), theirs_hex) if ours is not None else None
            if base == theirs_hex:
                return None
            inspection = inspect_tree(
                repo, ref, ours_tree.decode() if ours_tree else None, theirs_tree.decode()
            )
        base_tree = io.commit_tree(base.encode()) if base else None
        at_the_door = list(inspection.refused)
        tree = merge_inspected(io, ref, inspection, ours_tree, theirs_tree, base_tree)
        refused.extend(inspection.refused)
        inspection.refused = at_the_door  # the merge's own reports are made again on a retry
        identity = commit_identity(io.repo)
        # Their commit becomes a parent (so that our next push is a fast-forward of it)
        # unless the door found malformed or oversized objects in it: those never become
        # part of the local capsule's history.
        tainted = any(item["kind"] in TAINTING_KINDS for item in refused)
        parents = [] if tainted else [theirs]
        if ours is None:
            outcome = "created"
            if tree == theirs_tree and not tainted:
                return theirs
            return io.write_commit(tree, parents, f"take {ref.name} from {source}", identity)
        if tainted and tree == ours_tree:
            outcome = "refused"  # nothing of theirs joined
            return None
        if tree == theirs_tree and base == ours.decode() and not tainted:
            outcome = "fast-forward"  # their tree holds all of ours: a superset
            return theirs
        outcome = "merged"
        return io.write_commit(tree, [ours, *parents], f"merge {ref.name} from {source}", identity)

    refs.update(ref_bytes(ref.name), compute)
    return outcome, list(refused)


# ---- what plain git fetched ---------------------------------------------------------------
def _state_dir(repo: GitRepo) -> str:
    return os.path.join(repo.common_dir, "speckit", "sync")


def tracking_tips(repo: GitRepo) -> dict[str, str]:
    """Every ref under ``refs/speckit-remotes/`` → its object id, read from the ref files
    (loose refs over ``packed-refs``) without starting git; git itself for a reftable."""
    common = os.fspath(repo.common_dir)
    if os.path.isdir(os.path.join(common, "reftable")):
        return plumbing.list_refs(repo, TRACKING)
    tips: dict[str, str] = {}
    marker = f" {TRACKING}/".encode()
    try:
        with open(os.path.join(common, "packed-refs"), "rb") as handle:
            packed = handle.read()
    except FileNotFoundError:
        packed = b""
    if marker in packed:
        for line in packed.splitlines():
            oid, space, packed_name = line.partition(b" ")
            if space and packed_name.startswith(marker[1:]) and plumbing.is_object_id(oid.decode()):
                tips[packed_name.decode("utf-8", "surrogateescape")] = oid.decode()
    top = os.path.join(common, *TRACKING.split("/"))
    for directory, _subdirs, files in os.walk(top):
        for file_name in files:
            path = os.path.join(directory, file_name)
            try:
                with open(path, "rb") as handle:
                    value = handle.read(80).strip().decode("ascii", "replace")
            except OSError:
                continue
            if plumbing.is_object_id(value):
                name = os.path.relpath(path, common).replace(os.sep, "/")
                tips[name] = value
    return tips


def _read_state(path: str) -> dict[str, str]:
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return {}
    state = {}
    for line in text.splitlines():
        oid, _space, name = line.partition(" ")
        if name:
            state[name] = oid
    return state


def absorb(repo: GitRepo) -> dict[str, object] | None:
    """Merge what plain ``git fetch`` brought into ``refs/speckit-remotes/`` since the last
    time; None when nothing is new (the common case: no git process is started)."""
    tips = tracking_tips(repo)
    state_path = os.path.join(_state_dir(repo), "merged-tips")
    if not tips and not os.path.exists(state_path):
        return None
    seen = _read_state(state_path)
    if tips == seen:
        return None
    changed = {name: oid for name, oid in tips.items() if seen.get(name) != oid}
    statuses: dict[str, str] = {}
    refused: list[Refusal] = []
    if changed:
        remotes = sorted(repo.remotes(), key=len, reverse=True)
        groups: dict[str, dict[str, str]] = {}
        for name, oid in changed.items():
            rest = name[len(TRACKING) + 1 :]
            remote = next((r for r in remotes if rest.startswith(r + "/")), rest.split("/", 1)[0])
            groups.setdefault(remote, {})[rest[len(remote) + 1 :]] = oid
        for remote, group in sorted(groups.items()):
            merged, group_refused = merge_fetched(repo, group, remote)
            statuses.update(merged)
            refused.extend(group_refused)
    state = "".join(f"{oid} {name}\n" for name, oid in sorted(tips.items()))
    atomic_write(state_path, state.encode("utf-8", "surrogateescape"), durable=False)
    return {"refs": statuses, "refused": refused}


def _record_refusals(repo: GitRepo, source: str, merged: set[str], refused: list[Refusal]) -> None:
    """Keep, for ``verify``, what the latest merge of each ref from each source refused
    (a file in the git dir): a ref merged again replaces what was kept of it."""
    import json

    path = os.path.join(_state_dir(repo), "refused.json")
    recorded = recorded_refusals(repo)
    if not refused and not any(recorded.values()):
        return
    kept = [item for item in recorded.get(source, []) if item["ref"] not in merged]
    recorded[source] = [*kept, *refused]
    if not recorded[source]:
        del recorded[source]
    atomic_write(path, json.dumps(recorded, sort_keys=True, indent=1).encode(), durable=False)


def recorded_refusals(repo: GitRepo) -> dict[str, list[Refusal]]:
    """What each source's last merges refused, as ``_record_refusals`` kept it."""
    import json
    from typing import cast

    try:
        with open(os.path.join(_state_dir(repo), "refused.json"), "rb") as handle:
            value = json.loads(handle.read())
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(value, dict):
        return {}
    kept: dict[str, list[Refusal]] = {}
    for source, items in value.items():
        if isinstance(items, list):
            kept[str(source)] = [
                cast("Refusal", item) for item in items if isinstance(item, dict) and "ref" in item
            ]
    return kept


# ---- set-up (install) ---------------------------------------------------------------------
def configure_tracking(repo: GitRepo) -> list[dict[str, str]]:
    """Give every remote the tracking fetch refspec; a fetch refspec that wrote straight
    into the local capsule (``refs/speckit/*:refs/speckit/*``, recommended earlier) is
    replaced: with it, plain ``git pull`` fails once two clones have appended."""
    changes = []
    for remote in repo.remotes():
        key = f"remote.{remote}.fetch"
        values = repo.git("config", "--get-all", key, check=False).decode().split()
        wanted = tracking_refspec(remote)
        action = "kept"
        if wanted not in values:
            repo.git("config", "--add", key, wanted)
            action = "added"
        for value in values:
            if value != wanted and writes_local_capsule(value):
                repo.git("config", "--fixed-value", "--unset", key, value)
                action = "migrated"
        changes.append({"remote": remote, "refspec": wanted, "action": action})
    return changes


def writes_local_capsule(refspec: str) -> bool:
    """A fetch refspec whose destination is the local capsule itself (``refs/speckit/``)."""
    destination = refspec.lstrip("+").partition(":")[2]
    return destination == NAMESPACE or destination.startswith(f"{NAMESPACE}/")


def set_up(repo: GitRepo) -> dict[str, object]:
    """What ``install`` does for the capsule: the tracking refspec on every remote, one
    fetch of each, and the merge of what came. A remote that cannot be reached is said,
    never fatal: the next plain ``git fetch`` brings it."""
    remotes = configure_tracking(repo)
    for item in remotes:
        try:
            repo.git(
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                item["remote"],
                tracking_refspec(item["remote"]),
            )
            item["fetched"] = "yes"
        except GitError as e:
            item["fetched"] = "no"
            item["error"] = e.message
    merged = absorb(repo) or {"refs": {}, "refused": []}
    return {"remotes": remotes, **merged}


# ---- push --------------------------------------------------------------------------------
def push(repo: GitRepo, remote: str | None = None) -> dict[str, object]:
    """Push the capsule namespace; a ref the remote rejected as a non-fast-forward is
    pulled (merged) and pushed again, up to ``PUSH_ATTEMPTS`` times with jittered back-off.

    Returns {"remote", "refs": {ref: git's summary}, "attempts", "refused"}; a remote that
    refuses for another reason (a hook, permissions) raises RemoteRefused with its reason.
    """
    source = resolve_remote(repo, remote)
    if _is_bundle(source):
        return _push_bundle(repo, source)
    if not _list_refs(repo, NAMESPACE):
        return {"remote": source, "refs": {}, "attempts": 0, "refused": []}
    import random
    import time

    from speckit_git_policy.store.capsule import seals

    refused: list[Refusal] = []
    statuses: dict[str, str] = {}
    rejected: dict[str, str] = {}
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        if seals.signing_enabled(repo):
            _seal_all(repo)
        # --no-verify: a capsule push is no branch push; our own pre-push hook must not
        # push the capsule again from inside it.
        results = plumbing.push_refs(repo, source, [REFSPEC], "--no-verify")
        rejected = {ref: summary for ref, (flag, summary) in results.items() if flag == "!"}
        statuses.update(
            {ref: summary.strip("[]") for ref, (flag, summary) in results.items() if flag != "!"}
        )
        if not rejected:
            return {"remote": source, "refs": statuses, "attempts": attempt, "refused": refused}
        final = {ref: s for ref, s in rejected.items() if not any(r in s for r in _RETRYABLE)}
        if final:
            raise RemoteRefused(source, final)
        # Back off first, then merge what the remote holds and push at once: the window in
        # which another clone can push first is the merge's, not the sleep's.
        time.sleep(random.uniform(0, min(PUSH_BACKOFF_SECONDS * 2**attempt, PUSH_BACKOFF_MAX)))
        pulled = pull(repo, source)
        new_refusals = pulled["refused"]
        assert isinstance(new_refusals, list)
        refused.extend(new_refusals)
        # A remote tip refused as a whole, or holding malformed or oversized objects, never
        # becomes a parent of ours: no merge can make our push a fast-forward of it.
        blocked = {
            item["ref"]: item["reason"]
            for item in new_refusals
            if item["path"] is None or item["kind"] in TAINTING_KINDS
        }
        if set(rejected) & set(blocked):
            raise RemoteRefused(
                source,
                {
                    ref: f"the remote's ref holds what the door refused ({blocked[ref]}); "
                    "fix the remote's ref, then push again"
                    for ref in set(rejected) & set(blocked)
                },
            )
    raise RemoteRefused(
        source,
        {
            ref: f"still rejected after {PUSH_ATTEMPTS} attempts ({s})"
            for ref, s in rejected.items()
        },
    )


def _seal_all(repo: GitRepo) -> None:
    from speckit_git_policy.store.capsule import seals
    from speckit_git_policy.store.capsule.objects import ObjectIO, RefUpdater, capsule_repo

    dulwich_repo = capsule_repo(repo)
    io, refs = ObjectIO(dulwich_repo), RefUpdater(dulwich_repo)
    for name in sorted(_list_refs(repo, NAMESPACE)):
        seals.seal(repo, io, refs, f"{NAMESPACE}/{name}")


def _push_bundle(repo: GitRepo, path: str) -> dict[str, object]:
    """A bundle file is written whole: what it held is merged first, so nothing is lost."""
    refused: list[Refusal] = []
    if os.path.isfile(path):
        pulled = pull(repo, path)
        assert isinstance(pulled["refused"], list)
        refused = pulled["refused"]
    names = sorted(_list_refs(repo, NAMESPACE))
    if not names:
        return {"remote": path, "refs": {}, "attempts": 0, "refused": refused}
    from speckit_git_policy.store.capsule import seals

    if seals.signing_enabled(repo):
        _seal_all(repo)
    temp = f"{path}.{os.getpid()}-{os.urandom(4).hex()}.tmp"
    try:
        repo.git("bundle", "create", "--quiet", temp, *(f"{NAMESPACE}/{name}" for name in names))
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    refs = {f"{NAMESPACE}/{name}": "written" for name in names}
    return {"remote": path, "refs": refs, "attempts": 1, "refused": refused}


# ---- helpers -------------------------------------------------------------------------------
def _list_refs(repo: GitRepo, prefix: str) -> dict[str, str]:
    """Refs under ``prefix/``, named relative to it → object id."""
    return {name[len(prefix) + 1 :]: oid for name, oid in plumbing.list_refs(repo, prefix).items()}


def _delete_refs(repo: GitRepo, names: list[str]) -> None:
    if names:
        commands = "".join(f"delete {name}\n" for name in names)
        repo.git("update-ref", "--stdin", input_bytes=commands.encode())
