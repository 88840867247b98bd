"""Snapshots proven against the commits they are bound to (docs/DESIGN.md §4, "Trust rules").

A binding says "commit C carries this snapshot's content". ``verify`` checks it the way
capture made it: the sources in C's tree (read as ``policy/sources.read_sources`` reads a
commit: plain files of at most 1 MiB, symlinks followed inside the repository), compiled by
``snapshot.compile_sources``, must hash to the snapshot's ``hash``. A snapshot whose bytes
were replaced by a self-consistent forgery (its hash recomputed), or a binding to a commit
that does not carry the content, fails, in a fresh clone too: the proof needs only git's
objects, never the copies it checks.

Cost at N bound commits: one ``cat-file --batch-check`` (the commits' trees), one
``diff-tree --stdin`` (every source entry of every commit, with its mode and blob id), one
``cat-file --batch`` for the blobs not proven before, and one compile per distinct pair of
source blobs. Proven pairs are kept in ``<git common dir>/speckit/proofs.json``, keyed by
the source paths and their blob ids, under the tool version and the code that compiles: a
changed blob is another key, so the cache can only repeat a proof made of those very bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from typing import Any, TypedDict

from speckit_git_policy import __version__
from speckit_git_policy.errors import PolicyInvalid
from speckit_git_policy.fileio import atomic_write
from speckit_git_policy.git import plumbing
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.policy.sources import (
    MAX_SOURCE_BYTES,
    SourcePaths,
    Sources,
    read_sources,
    source_paths,
)
from speckit_git_policy.snapshot import compile_sources
from speckit_git_policy.store.bindings import Binding

PROVEN = "proven"
MISMATCH = "mismatch"  # the commit's sources compile to another hash: forged or corrupted
UNCOMPILABLE = "uncompilable"  # the commit holds no policy that compiles
ABSENT = "absent"  # the commit is not in this clone: nothing to prove against
UNPROVABLE = "unprovable"  # the snapshot does not say which files are its sources

_REGULAR = ("100644", "100755")


class Proof(TypedDict):
    policy_id: str
    commit: str
    outcome: str
    detail: str


def _paths_of(document: dict[str, Any], configured: SourcePaths) -> SourcePaths | None:
    """Which of the snapshot's ``source_files`` is the policy and which the doc."""
    files = document.get("source_files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    if sorted(set(files)) == configured.all():
        return configured
    tomls = [f for f in files if f.endswith(".toml")]
    others = [f for f in files if not f.endswith(".toml")]
    if len(files) == 2 and len(tomls) == 1 and len(others) == 1:
        return SourcePaths(tomls[0], others[0])
    return None


class _Cache:
    """Proven (paths, blob ids) → hash, under the tool version and the compiling code."""

    def __init__(self, repo: GitRepo) -> None:
        from speckit_git_policy.compiled_cache import _code_fingerprint

        self.path = os.path.join(repo.common_dir, "speckit", "proofs.json")
        self.identity = {"tool_version": __version__, "code": _code_fingerprint()}
        self.proven: dict[str, str] = {}
        self.changed = False
        try:
            with open(self.path, "rb") as handle:
                stored = json.loads(handle.read())
        except (OSError, ValueError):
            return
        if isinstance(stored, dict) and stored.get("identity") == self.identity:
            proven = stored.get("proven")
            if isinstance(proven, dict):
                self.proven = {str(k): str(v) for k, v in proven.items()}

    @staticmethod
    def key(paths: SourcePaths, blob_ids: dict[str, str]) -> str:
        parts = [paths.policy, paths.doc, *(blob_ids[path] for path in paths.all())]
        return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()

    def get(self, key: str) -> str | None:
        return self.proven.get(key)

    def put(self, key: str, content_hash: str) -> None:
        if self.proven.get(key) != content_hash:
            self.proven[key] = content_hash
            self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        document = {"identity": self.identity, "proven": self.proven}
        try:
            atomic_write(self.path, json.dumps(document, sort_keys=True).encode(), durable=False)
        except OSError:
            pass  # a cache: the next verify proves again


def prove(
    repo: GitRepo,
    documents: dict[str, dict[str, Any]],
    bindings: dict[str, list[Binding]],
    progress: Callable[[int, int], None] | None = None,
) -> list[Proof]:
    """Every (snapshot, bound commit) pair, proven or not, with why (``progress``: of
    the compiles, done and to do)."""
    configured = source_paths(repo)
    jobs: list[tuple[str, str, SourcePaths]] = []
    proofs: list[Proof] = []
    for policy_id, document in sorted(documents.items()):
        commits = [b["commit"] for b in bindings.get(policy_id, [])]
        paths = _paths_of(document, configured)
        if paths is None:
            if commits:
                proofs.append(
                    _proof(policy_id, commits[0], UNPROVABLE, "no policy/doc source pair")
                )
            continue
        jobs.extend((policy_id, commit, paths) for commit in dict.fromkeys(commits))
    commits = sorted({commit for _pid, commit, _paths in jobs if plumbing.is_object_id(commit)})
    infos = plumbing.object_infos(repo, [f"{commit}^{{tree}}" for commit in commits])
    trees = {
        c: info.oid for c, info in zip(commits, infos) if info is not None and info.kind == "tree"
    }
    wanted_paths = sorted({path for _pid, _c, paths in jobs for path in paths.all()})
    entries = plumbing.tree_pair_entries(
        repo, plumbing.empty_tree(repo), sorted(set(trees.values())), wanted_paths
    )
    cache = _Cache(repo)
    pending: dict[str, tuple[SourcePaths, dict[str, str], str]] = {}  # key -> (paths, ids, commit)
    hashes: dict[tuple[str, str], str | PolicyInvalid] = {}  # (commit, paths key) -> hash
    plans: list[tuple[str, str, SourcePaths, str | None]] = []
    for policy_id, commit, paths in jobs:
        if commit not in trees:
            plans.append((policy_id, commit, paths, None))
            continue
        found = entries[trees[commit]]
        present = {path: found[path] for path in paths.all() if path in found}
        if len(present) == len(paths.all()) and all(m in _REGULAR for m, _ in present.values()):
            blob_ids = {path: oid for path, (_mode, oid) in present.items()}
            key = cache.key(paths, blob_ids)
            if cache.get(key) is None:
                pending.setdefault(key, (paths, blob_ids, commit))
            plans.append((policy_id, commit, paths, key))
        else:
            # Missing, a symlink or something else: exactly as capture reads it.
            plans.append((policy_id, commit, paths, f"careful:{commit}"))
            hashes.setdefault((commit, f"careful:{commit}"), _compile_careful(repo, commit, paths))
    for pending_key, compiled in _compile_pending(repo, pending, progress).items():
        if isinstance(compiled, str):
            cache.put(pending_key, compiled)
        hashes[("", pending_key)] = compiled
    cache.save()
    for policy_id, commit, _paths, plan_key in plans:
        expected = documents[policy_id].get("hash")
        if plan_key is None:
            proofs.append(_proof(policy_id, commit, ABSENT, "the commit is not in this clone"))
            continue
        result = hashes.get((commit, plan_key)) or cache.get(plan_key) or hashes.get(("", plan_key))
        if isinstance(result, PolicyInvalid):
            proofs.append(_proof(policy_id, commit, UNCOMPILABLE, str(result)))
        elif result == expected:
            proofs.append(_proof(policy_id, commit, PROVEN, ""))
        else:
            proofs.append(
                _proof(policy_id, commit, MISMATCH, f"its sources compile to hash {result}")
            )
    return proofs


def _compile_careful(repo: GitRepo, commit: str, paths: SourcePaths) -> str | PolicyInvalid:
    try:
        return compile_sources(read_sources(repo, commit, paths)).hash
    except PolicyInvalid as e:
        return e


def _compile_pending(
    repo: GitRepo,
    pending: dict[str, tuple[SourcePaths, dict[str, str], str]],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, str | PolicyInvalid]:
    """Compile each pair of regular source blobs once (sizes first, then one read)."""
    blob_ids = sorted({oid for _paths, ids, _c in pending.values() for oid in ids.values()})
    sizes = {
        oid: info.size
        for oid, info in zip(blob_ids, plumbing.object_infos(repo, blob_ids))
        if info is not None
    }
    small = [oid for oid in blob_ids if sizes.get(oid, MAX_SOURCE_BYTES + 1) <= MAX_SOURCE_BYTES]
    contents = {
        info.oid: info.data
        for info in plumbing.read_objects(repo, small)
        if info is not None and info.data is not None
    }
    results: dict[str, str | PolicyInvalid] = {}
    for number, (key, (paths, ids, commit)) in enumerate(pending.items(), start=1):
        if progress is not None:
            progress(number, len(pending))
        if all(oid in contents for oid in ids.values()):
            files = {path: contents[oid] for path, oid in ids.items()}
            try:
                results[key] = compile_sources(Sources(paths, files, commit, dict(ids))).hash
            except PolicyInvalid as e:
                results[key] = e
        else:  # too big or unreadable: let the careful reader say what is wrong
            results[key] = _compile_careful(repo, commit, paths)
    return results


def _proof(policy_id: str, commit: str, outcome: str, detail: str) -> Proof:
    return {"policy_id": policy_id, "commit": commit, "outcome": outcome, "detail": detail}
