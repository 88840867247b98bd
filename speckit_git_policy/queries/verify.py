"""``verify``: both copies of every snapshot, the event lint and missed captures (docs/DESIGN.md §4, §8),
and the trust rules: every snapshot proven against the commits it is bound to, the capsule's
structure as the door checks it, the seals, and what remotes sent that was refused.

A copy that is missing or corrupted is restored from the other copy, but only
after that one's hash checks out (``repair=True``); nothing is ever restored
from a copy that does not verify.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from speckit_git_policy.errors import SnapshotCorrupt, SpeckitError
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.snapshot import load_document
from speckit_git_policy.store import Stores

TYPE_CHECKING = False
if TYPE_CHECKING:
    from speckit_git_policy.queries.proof import Proof
    from speckit_git_policy.store.bindings import Binding

ERROR = "error"
WARNING = "warning"


@dataclass
class Problem:
    kind: str
    message: str
    uri: str | None = None
    path: str | None = None
    severity: str = ERROR
    repaired: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # Whether `verify --repair` fixes it (the others name their own fix).
    repairable: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "uri": self.uri,
            "path": self.path,
            "message": self.message,
            "repaired": self.repaired,
            "repairable": self.repairable,
            **self.extra,
        }

    @property
    def broken(self) -> bool:
        return self.severity == ERROR and not self.repaired


@dataclass
class Report:
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(problem.broken for problem in self.problems)

    @property
    def repairable(self) -> bool:
        """Whether ``--repair`` would fix a problem left broken."""
        return any(problem.broken and problem.repairable for problem in self.problems)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "problems": [problem.as_json() for problem in self.problems],
        }


def _check(
    data: bytes | None, where: str, policy_id: str
) -> tuple[dict[str, Any] | None, str | None]:
    """(document, None) when the copy verifies, else (None, reason); (None, None) when absent."""
    if data is None:
        return None, None
    try:
        document = load_document(data, where)
    except SnapshotCorrupt as e:
        return None, e.reason
    if document["policy_id"] != policy_id:
        return None, f"holds policy_id {document['policy_id']}"
    return document, None


def shares_a_capsule(repo: GitRepo) -> bool:
    """Whether other work trees of this repository share its capsule (``git worktree``):
    each has its own ``.speckit/``, so a snapshot captured in one is missing from the
    others' by design, not broken (docs/DESIGN.md §4)."""
    if repo.git_dir != repo.common_dir:
        return True
    try:
        return any(os.scandir(os.path.join(repo.common_dir, "worktrees")))
    except OSError:
        return False


def check_snapshot(
    stores: Stores,
    policy_id: str,
    repair: bool,
    documents: dict[str, dict[str, Any]] | None = None,
    restore_missing: bool = False,
) -> list[Problem]:
    """Both copies of one snapshot; the document of the copy that verifies goes into
    ``documents`` (for the proof against its commits). ``restore_missing``: a filesystem
    copy that is only missing is written from a capsule copy that verifies, as
    ``--repair`` would (another work tree of the repository captured it)."""
    uri, path = stores.uri(policy_id), stores.fs.relative_path(policy_id)
    fs_bytes = stores.fs.read(policy_id)
    capsule = stores.capsule
    found = capsule.read_snapshot(policy_id) if capsule is not None else None
    capsule_bytes = found if isinstance(found, bytes) else None
    fs_doc, fs_bad = _check(fs_bytes, path, policy_id)
    if capsule_bytes is not None and capsule_bytes == fs_bytes:
        capsule_doc, capsule_bad = fs_doc, fs_bad  # the same bytes check the same
    else:
        capsule_doc, capsule_bad = _check(capsule_bytes, uri, policy_id)
    if isinstance(found, str):
        capsule_bad = found
    problems: list[Problem] = []

    def copy_problem(place: str, reason: str | None, restore: Callable[[], object] | None) -> None:
        what = f"{place} copy is corrupted: {reason}" if reason else f"{place} copy is missing"
        problem = Problem(
            "parity" if reason is None else "corrupt", what, uri, path, repairable=True
        )
        if repair and restore is not None:
            restore()
            problem.repaired = True
        problems.append(problem)

    if fs_doc is None and (capsule is None or capsule_doc is None):
        reasons = "; ".join(r for r in (fs_bad, capsule_bad) if r) or "no copy is readable"
        return [Problem("corrupt", f"no copy verifies: {reasons}", uri, path)]
    good_bytes = fs_bytes if fs_doc is not None else capsule_bytes
    good = fs_doc if fs_doc is not None else capsule_doc
    assert good_bytes is not None and good is not None
    if documents is not None:
        documents[policy_id] = good
    if fs_bytes is None and stores.fs.is_pruned(policy_id):
        pass  # removed on purpose by prune; the capsule copy is the record
    elif fs_bytes is None and restore_missing and capsule_doc is not None:
        stores.fs.write(policy_id, good_bytes)
        problems.append(
            Problem(
                "restored",
                "filesystem copy restored from the capsule (captured in another work tree)",
                uri,
                path,
                severity=WARNING,
                repaired=True,
            )
        )
    elif fs_doc is None:
        copy_problem("filesystem", fs_bad, lambda: stores.fs.write(policy_id, good_bytes))
    if capsule is not None and capsule_doc is None:
        copy_problem(
            "capsule",
            capsule_bad,
            lambda: capsule.put_snapshot(policy_id, good["hash"], good["created_at"], good_bytes),
        )
    if fs_doc is not None and capsule_doc is not None and fs_bytes != capsule_bytes:
        problems.append(Problem("parity", "both copies verify but their bytes differ", uri, path))
    provenance = good.get("provenance")
    if isinstance(provenance, dict) and provenance.get("validated") is False:
        problems.append(
            Problem(
                "unvalidated",
                "this snapshot's policy did not pass validation (committed with --no-verify?)",
                uri,
                path,
                severity=WARNING,
            )
        )
    if capsule is not None and (capsule_doc is not None or repair):  # the capsule holds it now
        problems.extend(_binding_problems(stores, policy_id, repair))
    return problems


def _binding_problems(stores: Stores, policy_id: str, repair: bool) -> list[Problem]:
    """Bindings and rewrites the filesystem log has and the capsule lacks (recorded
    while ``speckit.capsule`` was false): ``--repair`` unites the two lists with the
    binding algebra, so a rewrite made meanwhile moves the capsule's binding too."""
    from speckit_git_policy.store.bindings import is_bound, merge

    capsule = stores.capsule
    assert capsule is not None
    in_capsule = capsule.bindings(policy_id)
    on_disk = stores.fs_bindings(policy_id)
    problems = []
    for binding in merge(in_capsule, on_disk):
        commit = binding["commit"]
        if is_bound(in_capsule, commit):
            continue  # the capsule has it (or knows more: a rewrite the log has not seen)
        carried = [old for old in binding["rewritten_from"] if is_bound(in_capsule, old)]
        if carried:
            olds = ", ".join(old[:12] for old in carried)
            message = (
                f"the rewrite of {olds} into commit {commit[:12]} is recorded in "
                ".speckit/bindings only, not in the capsule"
            )
        else:
            message = f"commit {commit[:12]} is bound in .speckit/bindings only, not in the capsule"
        problems.append(
            Problem(
                "binding",
                message,
                stores.uri(policy_id),
                stores.fs.relative_path(policy_id),
                extra={"commit": commit},
                repairable=True,
            )
        )
    if problems and repair:
        capsule.merge_bindings(policy_id, on_disk)
        for problem in problems:
            problem.repaired = True
    return problems


def verify(
    repo: GitRepo, *, repair: bool = False, progress: Callable[[int, int], None] | None = None
) -> Report:
    stores = Stores(repo)
    report = Report()
    _sweep(repo, stores)
    ref_problems = _capsule_ref_problems(repo, stores)
    report.problems.extend(ref_problems)
    if any(problem.extra.get("ref") == _policy_ref(stores) for problem in ref_problems):
        # Every capsule read goes through that ref: check the filesystem copies alone.
        stores.__dict__["capsule"] = None
        stores.__dict__["capsule_workspace"] = None  # the bulk readers' way in, too
    if repair:
        stores.prepare()  # a fresh clone: keep the restored .speckit/ out of git status
    # What is read in bulk, shared by the checks: trees by id, blob sizes by id.
    trees: dict[bytes, dict[str, tuple[int, bytes]]] = {}
    sizes: dict[bytes, int] = {}
    _read_policy_tree(stores, trees, sizes)
    ids = stores.ids()
    documents: dict[str, dict[str, Any]] = {}
    restore_missing = shares_a_capsule(repo)
    if restore_missing:
        stores.prepare()
    for number, policy_id in enumerate(ids, start=1):
        report.problems.extend(
            check_snapshot(stores, policy_id, repair, documents, restore_missing)
        )
        report.checked += 1
        if progress is not None:
            progress(number, len(ids))
    # The proofs (a compile per snapshot not proven before) and the structure check go on in
    # a child process while this one lints the runs, when there are enough snapshots to be
    # worth one (two cores); their problems keep their place in the report.
    bindings = stores.all_bindings()  # here: what its readers note is this verify's
    check_trees = stores.capsule is not None
    apart = None
    if len(documents) >= PROVE_APART and hasattr(os, "fork"):
        apart = _Apart(repo, stores, documents, bindings, check_trees)
    proofs: list[Proof] | None = None
    structure: list[Problem] | None = None
    if apart is None:
        proofs = _prove(repo, documents, bindings, _phase(progress, "proving snapshots"))
    events = _event_problems(repo, trees, sizes, _phase(progress, "linting run events"))
    missed = _missed_capture_problems(repo)
    speckit = _speckit_problems(repo)
    if apart is not None:
        proofs, structure = apart.result()  # (None, None): the child failed, do it here
    if proofs is None:
        proofs = _prove(repo, documents, bindings)
    report.problems.extend(_proof_problems(stores, documents, proofs))
    report.problems.extend(events)
    report.problems.extend(missed)
    report.problems.extend(speckit)
    if check_trees:
        if structure is None:
            structure = _structure_problems(
                repo, stores, trees, sizes, _phase(progress, "checking the capsule's trees")
            )
        report.problems.extend(structure)
        report.problems.extend(_seal_problems(repo, stores))
        report.problems.extend(_refusal_problems(repo))
        report.problems.extend(_skipped_problems(repo))
    return report


def _phase(
    progress: Callable[[int, int], None] | None, label: str
) -> Callable[[int, int], None] | None:
    """``progress`` for the next phase, relabelled, when it takes phases (the CLI's
    ``Progress``); None for a plain callable, which hears of the snapshots only."""
    start = getattr(progress, "phase", None)
    if start is None:
        return None
    start(label)
    return progress


def _read_policy_tree(
    stores: Stores, trees: dict[bytes, dict[str, tuple[int, bytes]]], sizes: dict[bytes, int]
) -> None:
    """The policy ref's trees, and its snapshot and bindings blobs, read in bulk (one
    pipelined ``cat-file --batch`` per tree level, one for the blobs) into the capsule's
    object reader: the checks below then read each from memory, by id, where one read
    after another cost a round trip to git each (objects never change under their id)."""
    from speckit_git_policy.errors import GitError
    from speckit_git_policy.store.capsule.bulk import SNAPSHOT_MAX_BYTES, read_blobs, read_trees
    from speckit_git_policy.store.capsule.layout import POLICY_FANOUT_LEVELS
    from speckit_git_policy.store.capsule.objects import BLOB_MODE, TREE_MODE

    capsule = stores.capsule
    if capsule is None:
        return
    try:
        root = capsule.policy_root()
    except GitError:
        return  # every reader says so
    if root is None:
        return
    io = capsule.io
    reader = io.repo.batch_reader()
    io.remember_trees(read_trees(reader, [root], known=trees))
    blobs: list[bytes] = []
    try:
        for top in ("snapshots", "bindings"):
            start = io.lookup(root, [top])
            level = [start] if start is not None else []
            for _depth in range(POLICY_FANOUT_LEVELS + 1):
                level = [
                    entry
                    for mode, tree in level
                    if mode == TREE_MODE
                    for entry in io.entries(tree).values()
                ]
            blobs.extend(oid for mode, oid in level if mode == BLOB_MODE)
    except GitError:
        return  # an unreadable tree: the reader that meets it says so
    io.use_blobs(read_blobs(reader, blobs, SNAPSHOT_MAX_BYTES, sizes))


# ---- the trust rules (docs/DESIGN.md §4) -----------------------------------------------
# Snapshots from which the proofs are computed in a child process (``_Proving``).
PROVE_APART = 1000


def _prove(
    repo: GitRepo,
    documents: dict[str, dict[str, Any]],
    bindings: dict[str, list[Binding]],
    progress: Callable[[int, int], None] | None = None,
) -> list[Proof]:
    from speckit_git_policy.queries import proof

    return proof.prove(repo, documents, bindings, progress)


class _Apart:
    """``proof.prove`` (and, with ``check_trees``, the structure check) in a forked child
    while the parent goes on; ``result`` waits for them. The child reads git through
    processes of its own (it drops the parent's capsule reader, never writes to the
    parent's ``cat-file`` pipes), writes the caches, sends its findings back pickled and
    leaves by ``os._exit`` (no finaliser of the parent's objects runs twice). Neither
    check notes anything a reader skipped (the parent's notes are the report's). Whatever
    goes wrong there (a child that dies or raises) is done again in the parent."""

    def __init__(
        self,
        repo: GitRepo,
        stores: Stores,
        documents: dict[str, dict[str, Any]],
        bindings: dict[str, list[Binding]],
        check_trees: bool,
    ) -> None:
        import sys

        read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child
            status = 1
            try:
                os.close(read)
                import pickle

                repo.memo.pop("capsule_repo", None)  # its own cat-file processes
                proofs = _prove(repo, documents, bindings)
                structure = _structure_problems(repo, stores) if check_trees else None
                data = pickle.dumps((proofs, structure))
                with os.fdopen(write, "wb") as out:
                    out.write(data)
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        self._pid, self._read = pid, read

    def result(self) -> tuple[list[Proof] | None, list[Problem] | None]:
        import pickle

        with os.fdopen(self._read, "rb") as answer:
            data = answer.read()
        _, status = os.waitpid(self._pid, 0)
        if status == 0:
            try:
                found: tuple[list[Proof] | None, list[Problem] | None] = pickle.loads(data)
                return found
            except Exception:  # noqa: BLE001 -- done again by the caller
                pass
        return None, None


def _proof_problems(
    stores: Stores, documents: dict[str, dict[str, Any]], proofs: list[Proof]
) -> list[Problem]:
    """Each snapshot against the commits it is bound to, recompiled as capture would."""
    from speckit_git_policy.queries import proof

    problems = []
    for item in proofs:
        policy_id, commit, outcome = item["policy_id"], item["commit"], item["outcome"]
        if outcome == proof.PROVEN:
            continue
        extra = {"commit": commit, "outcome": outcome}
        uri, path = stores.uri(policy_id), stores.fs.relative_path(policy_id)
        if outcome == proof.MISMATCH:
            message = (
                f"forged or corrupted snapshot: bound to commit {commit[:12]}, whose sources "
                f"do not compile to it ({item['detail']}, the snapshot records "
                f"{documents[policy_id].get('hash')})"
            )
            problems.append(Problem("proof", message, uri, path, extra=extra))
        elif outcome == proof.UNCOMPILABLE:
            message = f"bound to commit {commit[:12]}, which holds no policy that compiles: {item['detail']}"
            problems.append(Problem("proof", message, uri, path, extra=extra))
        else:
            message = f"not proven against commit {commit[:12]}: {item['detail']}"
            if outcome == proof.ABSENT:
                message += " (fetch it: git speckit-policy pull)"
            problems.append(Problem("proof", message, uri, path, severity=WARNING, extra=extra))
    return problems


def _structure_problems(
    repo: GitRepo,
    stores: Stores,
    trees: dict[bytes, dict[str, tuple[int, bytes]]] | None = None,
    sizes: dict[bytes, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Problem]:
    """The local capsule as the door would see it: refs and entries outside the layout."""
    from speckit_git_policy.git.plumbing import list_refs, object_infos
    from speckit_git_policy.store.capsule import inspect
    from speckit_git_policy.store.capsule.bulk import read_trees
    from speckit_git_policy.store.capsule.layout import NAMESPACE
    from speckit_git_policy.store.capsule.objects import ObjectIO, capsule_repo

    io = ObjectIO(capsule_repo(repo))
    refs = list_refs(repo, NAMESPACE)
    names = sorted(refs)
    infos = object_infos(repo, [refs[name] for name in names])
    found: list[inspect.Refusal] = []
    clean = CleanTrees(repo)
    for number, (name, info) in enumerate(zip(names, infos), start=1):
        if progress is not None:
            progress(number, len(names))
        ref = inspect.parse_ref(name[len(NAMESPACE) + 1 :])
        if ref is None:
            found.append(
                inspect.refusal(name, None, inspect.UNKNOWN_REF, "not a ref of the capsule layout")
            )
        elif info is None or info.kind != "commit":
            kind = info.kind if info is not None else "missing object"
            found.append(inspect.refusal(name, None, inspect.NOT_A_COMMIT, f"points at a {kind}"))
        else:
            tree = io.commit_tree(info.oid.encode())
            key = f"{name} {tree.decode()}"
            if clean.has(key):
                continue  # this very tree was found to be all in the layout
            under = read_trees(io.repo.batch_reader(), [tree], known=trees)
            here = inspect.local_problems(repo, io, ref, tree, under, sizes)
            if not here:
                clean.add(key)
            found.extend(here)
    clean.save()
    problems = []
    for item in found:
        where = f"{item['ref']}:{item['path']}" if item["path"] else item["ref"]
        fix = f"; remove it: git update-ref -d {item['ref']}" if item["path"] is None else ""
        problems.append(
            Problem(
                "capsule",
                f"{where}: {item['reason']} (skipped by every reader){fix}",
                extra={"ref": item["ref"], "entry": item["path"], "reason_kind": item["kind"]},
            )
        )
    return problems


class CleanTrees:
    """Capsule refs' trees the structure check found all in the layout, by ref name and
    tree id: ``<git common dir>/speckit/verified-trees.json``, under the tool version and
    the code that checks. A tree id names every entry below it, bytes and all, so "the
    door would refuse nothing in it" cannot go stale; a ref that moved is another key."""

    MODULES = (
        "queries/verify.py",
        "store/capsule/inspect.py",
        "store/capsule/layout.py",
        "store/capsule/objects.py",
        "store/capsule/bulk.py",
        "git/batch.py",
    )

    def __init__(self, repo: GitRepo) -> None:
        import json

        from speckit_git_policy import __version__
        from speckit_git_policy.fileio import code_fingerprint

        self.identity = {
            "format": 1,
            "tool_version": __version__,
            "code": code_fingerprint(self.MODULES),
        }
        self.path = os.path.join(repo.common_dir, "speckit", "verified-trees.json")
        self.known: set[str] = set()
        self.kept: set[str] = set()
        try:
            with open(self.path, "rb") as handle:
                stored = json.loads(handle.read())
        except (OSError, ValueError):
            return
        if isinstance(stored, dict) and stored.get("identity") == self.identity:
            clean = stored.get("clean")
            if isinstance(clean, list):
                self.known = {key for key in clean if isinstance(key, str)}

    def has(self, key: str) -> bool:
        if key in self.known:
            self.kept.add(key)
            return True
        return False

    def add(self, key: str) -> None:
        self.kept.add(key)

    def save(self) -> None:
        """Keep the trees of the refs as they are now (those of old tips are dropped)."""
        import json

        from speckit_git_policy.fileio import atomic_write

        if self.kept == self.known:
            return
        document = {"identity": self.identity, "clean": sorted(self.kept)}
        try:
            atomic_write(self.path, json.dumps(document).encode(), durable=False)
        except OSError:
            pass  # a cache: the next verify walks those trees again


def _seal_problems(repo: GitRepo, stores: Stores) -> list[Problem]:
    """The newest seal of every capsule ref must verify (``gpg.ssh.allowedSignersFile``)."""
    from speckit_git_policy.git.plumbing import list_refs
    from speckit_git_policy.store.capsule import seals
    from speckit_git_policy.store.capsule.layout import NAMESPACE
    from speckit_git_policy.store.capsule.objects import ObjectIO, capsule_repo

    required = seals.signatures_required(repo)
    if not (required or seals.signing_enabled(repo)):
        return []
    io = ObjectIO(capsule_repo(repo))
    problems = []
    for name, tip in sorted(list_refs(repo, NAMESPACE).items()):
        try:
            seal = seals.newest_seal(io, tip.encode())
        except SpeckitError:
            continue  # not a commit: the structure check reports it
        if seal is None:
            if required:
                problems.append(
                    Problem(
                        "seal",
                        f"{name} carries no seal yet (it is sealed by the next push with speckit.sign=true)",
                        severity=WARNING,
                        extra={"ref": name},
                    )
                )
            continue
        reason = seals.signature_problem(repo, io, seal.decode())
        if reason is not None:
            problems.append(
                Problem("seal", f"{name}: seal {seal.decode()[:12]}: {reason}", extra={"ref": name})
            )
    return problems


def _refusal_problems(repo: GitRepo) -> list[Problem]:
    """What remotes sent that the door refused at the last pull or fetch (kept out; the
    local capsule is whole, so these are warnings: someone upstream should look)."""
    from speckit_git_policy.store.capsule.sync import recorded_refusals

    problems = []
    for source, items in sorted(recorded_refusals(repo).items()):
        for item in items:
            where = f"{item['ref']}:{item['path']}" if item.get("path") else item["ref"]
            problems.append(
                Problem(
                    "refused",
                    f"from {source}: {where}: {item.get('reason')}",
                    severity=WARNING,
                    extra={
                        "source": source,
                        "ref": item["ref"],
                        "entry": item.get("path"),
                        "reason_kind": item.get("kind"),
                    },
                )
            )
    return problems


def _skipped_problems(repo: GitRepo) -> list[Problem]:
    """What readers skipped during this verify (a blob over the limit, an unreadable tree)
    that the checks above did not already name."""
    from speckit_git_policy.store.capsule.capsule import reader_notes

    notes = reader_notes(repo)
    problems = [Problem("capsule", message, severity=WARNING) for message in notes]
    notes.clear()
    return problems


def _speckit_problems(repo: GitRepo) -> list[Problem]:
    """Spec Kit features whose run lacks a stage (integrations/speckit/verify_check.py)."""
    from speckit_git_policy.integrations.speckit.verify_check import feature_problems

    return [
        Problem("speckit", p["message"], p["uri"], severity=p["severity"], extra=p["extra"])
        for p in feature_problems(repo)
    ]


def _policy_ref(stores: Stores) -> str | None:
    from speckit_git_policy.store.capsule.layout import policy_ref

    return policy_ref(stores.workspace) if stores.capsule is not None else None


def _capsule_ref_problems(repo: GitRepo, stores: Stores) -> list[Problem]:
    """Stale locks and refs that are garbage, symbolic or dangling, each with its fix
    (``--repair`` does not guess what such a ref should hold)."""
    from speckit_git_policy.errors import CapsuleRefBroken, StaleLock
    from speckit_git_policy.store.capsule.layout import NAMESPACE
    from speckit_git_policy.store.capsule.objects import ref_problems

    problems = []
    for error in ref_problems(repo, NAMESPACE):
        if isinstance(error, StaleLock):
            problems.append(Problem("lock", str(error), path=error.path, extra={"ref": None}))
        elif isinstance(error, CapsuleRefBroken):
            problems.append(
                Problem("capsule_ref", str(error), path=error.path, extra={"ref": error.ref})
            )
    return problems


# Leftovers of killed writers: temp files of atomic writes, loose objects never renamed
# into place, and pull's staging refs. A live writer holds any of them for well under a
# second; an hour leaves a wide margin (git's own prune waits longer for tmp_obj_).
LEFTOVER_SECONDS = 3600.0


def _sweep(repo: GitRepo, stores: Stores) -> None:
    """Remove what a killed process left behind (docs/DESIGN.md §4: writes are atomic, so
    a leftover is never part of any state): best effort, silent, as git gc is."""
    import time

    from speckit_git_policy.fileio import remove_quietly

    cutoff = time.time() - LEFTOVER_SECONDS
    candidates: list[str] = []
    for directory, _subdirs, names in os.walk(stores.fs.base):
        candidates += [
            os.path.join(directory, name)
            for name in names
            if name.startswith(".") and (name.endswith(".tmp") or name.startswith(".claim."))
        ]
    objects = os.path.join(repo.common_dir, "objects")
    try:
        fans = [entry.path for entry in os.scandir(objects) if len(entry.name) == 2]
    except OSError:
        fans = []
    for fan in fans:
        try:
            candidates += [e.path for e in os.scandir(fan) if e.name.startswith("tmp_obj_")]
        except OSError:
            continue
    for path in candidates:
        try:
            if os.lstat(path).st_mtime < cutoff:
                remove_quietly(path)
        except OSError:
            continue
    from speckit_git_policy.store.capsule.sync import sweep_staging

    try:
        sweep_staging(repo)  # the staging refs of pulls no longer running
    except SpeckitError:
        pass  # a ref git cannot delete now is left for the next run


def _event_problems(
    repo: GitRepo,
    trees: dict[bytes, dict[str, tuple[int, bytes]]] | None = None,
    sizes: dict[bytes, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Problem]:
    from speckit_git_policy.runs.lint import lint_events

    problems = []
    try:
        items = lint_events(repo, remember=True, trees=trees, sizes=sizes, progress=progress)
    except SpeckitError as e:  # a run shard's ref is broken: reported above, with its fix
        return [Problem("event", f"the run logs could not be read: {e}")]
    for item in items:
        problems.append(
            Problem(
                "event",
                f"run {item['run_id']} seq {item['seq']}: {item['message']}",
                uri=item.get("uri"),
                extra={"run_id": item["run_id"], "seq": item["seq"]},
            )
        )
    return problems


def _missed_capture_problems(repo: GitRepo) -> list[Problem]:
    from speckit_git_policy.adoption import BACKFILL_HINT, history_gaps
    from speckit_git_policy.capture import make_up_command

    try:
        gaps = history_gaps(repo)
    except SpeckitError as e:  # the capsule's index is unreadable: reported above, with its fix
        return [Problem("missed_capture", f"missed captures not checked: {e}", severity=WARNING)]
    problems = [
        Problem(
            "missed_capture",
            f"commit {sha[:12]} changed the policy but has no snapshot; "
            f"run: {make_up_command(repo, sha) or f'git speckit-policy capture --commit {sha[:12]}'}",
            extra={"commit": sha},
        )
        for sha in gaps.missed
    ]
    # Neither fails verify: no capture can make up the first, the second is history
    # from before the tool was adopted (docs/GUIDE.md, "Adopting the tool in a repository with history").
    problems += [
        Problem(
            "uncapturable",
            f"commit {sha[:12]} changed the policy, but its sources cannot be compiled into "
            f"a snapshot: {why}",
            severity=WARNING,
            extra={"commit": sha},
        )
        for sha, why in gaps.uncapturable
    ]
    if gaps.pre_adoption and gaps.adoption is not None:
        problems.append(
            Problem(
                "pre_adoption",
                f"{len(gaps.pre_adoption)} commit(s) older than the adoption point "
                f"({gaps.adoption[:12]}) changed the policy and have no snapshot (history "
                f"from before the tool was adopted); to capture them: {BACKFILL_HINT}",
                severity=WARNING,
                extra={"commits": len(gaps.pre_adoption), "adoption_commit": gaps.adoption},
            )
        )
    return problems
