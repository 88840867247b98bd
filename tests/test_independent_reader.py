"""A second implementation reads what dulwich wrote.

Two clones are built the way a team uses the tool: the real git binary with the
installed hooks (policy commits, an amend, a revert to earlier content, a merge),
the command line in subprocesses (runs with stage transitions, checkpoints and
decisions), and `pull`/`push` through a bare remote, so that the capsule holds merge
commits and a run appended on both sides. Then the capsule is read back with
GitPython alone, on its pure-Python object database (gitdb), so that neither dulwich
nor git parses a single object, following docs/CAPSULE-LAYOUT.md and never our
package's readers: every ref, every capsule commit's tree, every snapshot blob
(bytes compared with `.speckit/policies/`, hash recomputed with `rfc8785` itself),
the hash and commit indexes, the bindings and every event. pygit2 (libgit2), when
installed, reads it a third time and must see exactly the same objects.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import hashlib
import json
import re
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import git as gitpython
import pytest
import rfc8785
from click.testing import CliRunner
from conftest import git, isolate_git_env
from test_hooks_support import commit, head, install_hooks, set_policy

from speckit_git_policy import runs
from speckit_git_policy.cli import cli as speckit_cli

# ---- the layout, as docs/CAPSULE-LAYOUT.md states it (not imported from the package) ----
WORKSPACE = "default"
UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
HEX = "[0-9a-f]"
SNAPSHOT_PATH = re.compile(rf"snapshots/({HEX})/({HEX})/({HEX})/({UUID4})\.json")
HASH_INDEX_PATH = re.compile(rf"by-hash/({HEX})/({HEX})/({HEX})/({HEX}{{64}})/({UUID4})")
BINDINGS_PATH = re.compile(rf"bindings/({HEX})/({HEX})/({HEX})/({UUID4})\.json")
COMMIT_INDEX_PATH = re.compile(rf"by-commit/({HEX})/({HEX})/({HEX})/({HEX}{{40}})/({UUID4})")
EVENT_PATH = re.compile(rf"({HEX})/({HEX})/([A-Za-z0-9._-]{{1,128}})/([0-9]{{10}})/([0-9]{{10}})\.json")
# A run directory's summary (docs/CAPSULE-LAYOUT.md, "Run summaries"): a cache, not events.
SUMMARY_PATH = re.compile(rf"({HEX})/summary\.json")
CAPSULE_REF = re.compile(r"refs/speckit/([A-Za-z0-9._-]{1,64})/(policy|runs/([0-9a-f]{2}))")
POLICY_TREE = {"snapshots", "by-hash", "bindings", "by-commit"}
EVENTS_PER_CHUNK = 256
# The snapshot's content: what its hash covers, and nothing else.
CONTENT_KEYS = ("schema_version", "routing", "capture", "budgets", "gates", "model_config",
                "weights", "prompts", "source_files", "source_digests")
SNAPSHOT_KEYS = {*CONTENT_KEYS, "policy_id", "hash", "created_at", "provenance"}
BINDING_KEYS = {"commit", "rewritten_from", "bound_at"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
SHA1 = re.compile(r"[0-9a-f]{40}")
EMPTY_BLOB = hashlib.sha1(b"blob 0\0").hexdigest()
BLOB_MODE, TREE_MODE = 0o100644, 0o040000
EVENT_TYPES = {"PolicySnapshotRef", "StageTransition", "Checkpoint", "BudgetDecision",
               "RouteDecision", "GateDecision"}
SOURCES = ("docs/MODEL-POLICY.md", "model_policy.toml")


# ---- readers: the object database seen by another implementation ------------------
class Reader(Protocol):
    def refs(self, prefix: str) -> dict[str, str]: ...  # ref name -> object id
    def kind(self, oid: str) -> str: ...  # "commit", "tree", "blob" or "tag"
    def commit(self, oid: str) -> tuple[str, list[str]]: ...  # (tree, parents)
    def tree(self, oid: str) -> list[tuple[str, int, str]]: ...  # (name, mode, oid)
    def blob(self, oid: str) -> bytes: ...


class Cached:
    """A reader that reads each object once: the capsule's history shares most of
    its trees and blobs between commits."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.cache: dict[tuple[str, str], Any] = {}
        self.listings: dict[str, list[tuple[str, str]]] = {}  # tree -> blobs(), below

    def _get(self, what: str, oid: str) -> Any:
        key = (what, oid)
        if key not in self.cache:
            self.cache[key] = getattr(self.reader, what)(oid)
        return self.cache[key]

    def refs(self, prefix: str) -> dict[str, str]:
        return self.reader.refs(prefix)

    def kind(self, oid: str) -> str:
        return str(self._get("kind", oid))

    def commit(self, oid: str) -> tuple[str, list[str]]:
        tree, parents = self._get("commit", oid)
        return tree, list(parents)

    def tree(self, oid: str) -> list[tuple[str, int, str]]:
        return list(self._get("tree", oid))

    def blob(self, oid: str) -> bytes:
        data: bytes = self._get("blob", oid)
        return data


class GitPythonReader:
    """GitPython on gitdb: refs parsed by GitPython (loose files and packed-refs),
    objects inflated and parsed in Python (loose and packed)."""

    def __init__(self, path: Path) -> None:
        with warnings.catch_warnings():
            # GitDB is deprecated as GitPython's *default* backend for speed; being
            # an implementation that shares nothing with git is the point here.
            warnings.simplefilter("ignore", DeprecationWarning)
            self.repo = gitpython.Repo(path, odbt=gitpython.GitDB)

    def refs(self, prefix: str) -> dict[str, str]:
        return {ref.path: gitpython.SymbolicReference.dereference_recursive(self.repo, ref.path)
                for ref in gitpython.Reference.list_items(self.repo, common_path=prefix)}

    def kind(self, oid: str) -> str:
        return str(self.repo.odb.info(bytes.fromhex(oid)).type.decode())

    def commit(self, oid: str) -> tuple[str, list[str]]:
        parsed = gitpython.Commit(self.repo, bytes.fromhex(oid))
        return parsed.tree.hexsha, [parent.hexsha for parent in parsed.parents]

    def tree(self, oid: str) -> list[tuple[str, int, str]]:
        return [(item.name, item.mode, item.hexsha)
                for item in gitpython.Tree(self.repo, bytes.fromhex(oid), TREE_MODE, "")]

    def blob(self, oid: str) -> bytes:
        data: bytes = self.repo.odb.stream(bytes.fromhex(oid)).read()
        return data


class Pygit2Reader:
    """libgit2, through pygit2."""

    def __init__(self, path: Path) -> None:
        import pygit2

        self.repo = pygit2.Repository(str(path))

    def refs(self, prefix: str) -> dict[str, str]:
        return {name: str(self.repo.references[name].resolve().target)
                for name in self.repo.references if name.startswith(prefix + "/")}

    def kind(self, oid: str) -> str:
        return str(self.repo[oid].type_str)

    def commit(self, oid: str) -> tuple[str, list[str]]:
        parsed = self.repo[oid]
        return str(parsed.tree_id), [str(parent) for parent in parsed.parent_ids]

    def tree(self, oid: str) -> list[tuple[str, int, str]]:
        return [(str(entry.name), int(entry.filemode), str(entry.id)) for entry in self.repo[oid]]

    def blob(self, oid: str) -> bytes:
        return bytes(self.repo[oid].data)


@functools.cache
def gitpython_at(path: Path) -> Cached:
    return Cached(GitPythonReader(path))


# ---- what a reader finds -------------------------------------------------------------
@dataclass
class Found:
    """The capsule as a reader found it: every blob of every ref's tip, by path, and
    every object the walk read (so that two readers can be compared)."""

    refs: dict[str, str]
    tips: dict[str, dict[str, bytes]] = field(default_factory=dict)  # ref -> path -> bytes
    capsule_commits: dict[str, set[str]] = field(default_factory=dict)  # ref -> commits
    reachable: set[str] = field(default_factory=set)  # every commit reachable from a capsule ref


def blobs(reader: Cached, tree: str) -> list[tuple[str, str]]:
    """(path, blob id) of every blob below ``tree``; only trees and plain blobs may be
    there (no executable, symlink or submodule entry), and no tree is empty.
    Remembered per tree: the capsule's commits share most of their subtrees."""
    known = reader.listings.get(tree)
    if known is not None:
        return known
    entries = reader.tree(tree)
    assert entries, f"empty tree {tree}"
    listing: list[tuple[str, str]] = []
    for name, mode, oid in entries:
        if mode == TREE_MODE:
            listing += [(f"{name}/{path}", blob) for path, blob in blobs(reader, oid)]
        else:
            assert mode == BLOB_MODE, f"{name}: mode {mode:o}"
            listing.append((name, oid))
    reader.listings[tree] = listing
    return listing


def top_names(reader: Cached, commit_id: str) -> set[str]:
    tree, _ = reader.commit(commit_id)
    return {name for name, _, _ in reader.tree(tree)}


def is_capsule_commit(reader: Cached, commit_id: str, ref_kind: str) -> bool:
    """A capsule commit's parents are capsule commits of the same ref and the bound
    (project) commits: the tree's top level tells them apart."""
    names = top_names(reader, commit_id)
    if ref_kind == "policy":
        return names <= POLICY_TREE
    return all(len(name) == 1 and name in "0123456789abcdef" for name in names)


def read_capsule(reader: Cached, history: bool = False) -> Found:
    """Every capsule ref, the whole tree of its tip, and its history: the capsule
    commits behind it (with ``history``, each one's tree checked against the layout
    too) and every commit reachable from it."""
    refs = reader.refs("refs/speckit")
    assert refs, "no capsule refs"
    found = Found(refs)
    for ref, tip in sorted(refs.items()):
        match = CAPSULE_REF.fullmatch(ref)
        assert match, f"{ref} is outside the layout"
        assert match.group(1) == WORKSPACE
        assert reader.kind(tip) == "commit", f"{ref} points at a {reader.kind(tip)}"
        ref_kind = "policy" if match.group(2) == "policy" else "runs"
        history: set[str] = set()
        checked: set[tuple[str, str]] = set()
        todo = [tip]
        while todo:
            current = todo.pop()
            if current in history:
                continue
            history.add(current)
            tree, parents = reader.commit(current)
            if current == tip or history:
                paths = dict(blobs(reader, tree))
                check_paths(ref_kind, match.group(3), {p: o for p, o in paths.items() if (p, o) not in checked})
                checked.update(paths.items())
            if current == tip:
                found.tips[ref] = {path: reader.blob(oid) for path, oid in paths.items()}
            todo += [p for p in parents if is_capsule_commit(reader, p, ref_kind)]
        found.capsule_commits[ref] = history
    # Every commit reachable from the capsule, through all parents.
    todo = list(refs.values())
    while todo:
        current = todo.pop()
        if current not in found.reachable:
            found.reachable.add(current)
            todo += reader.commit(current)[1]
    return found


def check_paths(ref_kind: str, shard: str | None, paths: dict[str, str]) -> None:
    """Every blob of a capsule commit sits where the layout says, under the right
    fan-out directories."""
    for path, oid in paths.items():
        if ref_kind == "policy":
            for pattern in (SNAPSHOT_PATH, HASH_INDEX_PATH, BINDINGS_PATH, COMMIT_INDEX_PATH):
                match = pattern.fullmatch(path)
                if match:
                    break
            else:
                raise AssertionError(f"policy tree: {path} is outside the layout")
            # The three fan-out directories are the first hex digits of the key.
            assert match.group(4).startswith("".join(match.group(1, 2, 3))), path
            if path.startswith(("by-hash/", "by-commit/")):
                assert oid == EMPTY_BLOB, f"{path}: an index entry is the empty blob"
        else:
            if SUMMARY_PATH.fullmatch(path):
                continue
            match = EVENT_PATH.fullmatch(path)
            assert match, f"run shard {shard}: {path} is outside the layout"
            run_id = match.group(3)
            digest = hashlib.sha256(run_id.encode()).hexdigest()
            assert digest[:4] == f"{shard}{match.group(1)}{match.group(2)}", path
            chunk, seq = int(match.group(4)), int(match.group(5))
            assert chunk == seq - seq % EVENTS_PER_CHUNK, path


def canonical(data: bytes, what: str) -> Any:
    """The JSON of a blob, which must be exactly its RFC 8785 canonical form."""
    document = json.loads(data)
    assert rfc8785.dumps(document) == data, f"{what} is not canonical JSON"
    return document


def content_hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(rfc8785.dumps({key: document[key] for key in CONTENT_KEYS})).hexdigest()


@dataclass
class Checked:
    snapshots: dict[str, dict[str, Any]]
    bindings: dict[str, list[dict[str, Any]]]
    runs: dict[str, list[dict[str, Any]]]


def check_capsule(reader: Cached, found: Found, work_tree: Path | None) -> Checked:
    policy_ref = f"refs/speckit/{WORKSPACE}/policy"
    tree = found.tips[policy_ref]

    # Snapshots: canonical bytes, named by their policy id, hash recomputed from the
    # content keys alone, byte-identical to the filesystem copy.
    snapshots: dict[str, dict[str, Any]] = {}
    raw: dict[str, bytes] = {}
    for path, data in tree.items():
        match = SNAPSHOT_PATH.fullmatch(path)
        if match:
            policy_id = match.group(4)
            document = canonical(data, path)
            assert set(document) == SNAPSHOT_KEYS, path
            assert document["policy_id"] == policy_id
            assert document["hash"] == content_hash(document), f"{path}: hash does not verify"
            assert TIMESTAMP.fullmatch(document["created_at"])
            snapshots[policy_id] = document
            raw[policy_id] = data
    assert snapshots
    if work_tree is not None:
        policies = work_tree / ".speckit" / "policies"
        on_disk = {p.name.removeprefix("snapshot-").removesuffix(".json"): p.read_bytes()
                   for p in policies.glob("snapshot-*.json")}
        assert on_disk == raw, "the filesystem copies differ from the capsule's"

    # The hash index names exactly each snapshot's hash.
    by_hash = {(m.group(4), m.group(5)) for m in map(HASH_INDEX_PATH.fullmatch, tree) if m}
    assert by_hash == {(d["hash"], pid) for pid, d in snapshots.items()}

    # Bindings: canonical, in bind order, each naming a commit that exists, is
    # reachable from the capsule and holds exactly the snapshot's sources.
    bindings: dict[str, list[dict[str, Any]]] = {}
    for path, data in tree.items():
        match = BINDINGS_PATH.fullmatch(path)
        if match:
            policy_id = match.group(4)
            assert policy_id in snapshots, f"{path}: bindings of a snapshot not stored"
            listed = canonical(data, path)
            assert isinstance(listed, list) and listed, path
            for binding in listed:
                assert set(binding) == BINDING_KEYS, path
                assert SHA1.fullmatch(binding["commit"]) and TIMESTAMP.fullmatch(binding["bound_at"])
                assert all(SHA1.fullmatch(sha) for sha in binding["rewritten_from"])
                assert binding["commit"] not in binding["rewritten_from"]
            stamps = [binding["bound_at"] for binding in listed]
            assert stamps == sorted(stamps), f"{path}: not in bind order"
            commits = [binding["commit"] for binding in listed]
            assert len(set(commits)) == len(commits), f"{path}: a commit bound twice"
            bindings[policy_id] = listed
    by_commit = {(m.group(4), m.group(5)) for m in map(COMMIT_INDEX_PATH.fullmatch, tree) if m}
    assert by_commit == {(sha, pid) for pid, listed in bindings.items() for b in listed
                         for sha in (b["commit"], *b["rewritten_from"])}
    for policy_id, listed in bindings.items():
        digests = snapshots[policy_id]["source_digests"]
        for binding in listed:
            for sha in (binding["commit"], *binding["rewritten_from"]):
                assert sha in found.reachable, f"bound commit {sha} is not reachable from the capsule"
                assert reader.kind(sha) == "commit"
                assert source_digests(reader, sha) == digests, f"{sha} does not hold {policy_id}'s sources"
        # The commit that records a binding has the bound commit as a parent.
        bound = {sha for b in listed for sha in (b["commit"], *b["rewritten_from"])}
        parents = {p for c in found.capsule_commits[policy_ref] for p in reader.commit(c)[1]}
        assert bound <= parents

    # Runs: chunks of 256 events named by their first seq, seq 0..n-1 without gaps,
    # every event canonical and naming a stored snapshot by id, hash and URI.
    runs: dict[str, list[tuple[int, int, dict[str, Any]]]] = {}
    for ref, shard_tree in found.tips.items():
        if ref == policy_ref:
            continue
        for path, data in shard_tree.items():
            if SUMMARY_PATH.fullmatch(path):
                continue
            match = EVENT_PATH.fullmatch(path)
            assert match
            runs.setdefault(match.group(3), []).append(
                (int(match.group(4)), int(match.group(5)), canonical(data, f"{ref}:{path}")))
    ordered: dict[str, list[dict[str, Any]]] = {}
    event_ids: set[str] = set()
    for run_id, entries in runs.items():
        entries.sort(key=lambda entry: entry[1])
        seqs = [seq for _, seq, _ in entries]
        assert seqs == list(range(len(seqs))), f"run {run_id}: seqs {seqs[:5]}... have gaps"
        chunks: dict[int, int] = {}
        for chunk, _, _ in entries:
            chunks[chunk] = chunks.get(chunk, 0) + 1
        names = sorted(chunks)
        assert names == [i * EVENTS_PER_CHUNK for i in range(len(names))]
        assert all(chunks[name] == EVENTS_PER_CHUNK for name in names[:-1])
        events = [event for _, _, event in entries]
        for seq, event in enumerate(events):
            assert event["seq"] == seq and event["run_id"] == run_id
            assert event["type"] in EVENT_TYPES
            assert TIMESTAMP.fullmatch(event["timestamp"])
            assert event["event_id"] not in event_ids, f"event_id {event['event_id']} twice"
            event_ids.add(event["event_id"])
            policy_id = event["policy_id"]
            assert policy_id in snapshots, f"run {run_id} seq {seq}: snapshot {policy_id} not stored"
            assert event["policy_hash"] == snapshots[policy_id]["hash"]
            assert event["policy_uri"] == f"mv2://{WORKSPACE}/policy/{policy_id}"
        assert events[0]["type"] == "PolicySnapshotRef"
        order = [(event["timestamp"], event["event_id"]) for event in events]
        assert order == sorted(order) and len(set(order)) == len(order), f"run {run_id}: out of order"
        ordered[run_id] = events
    return Checked(snapshots, bindings, ordered)


def source_digests(reader: Cached, commit_id: str) -> dict[str, str]:
    """sha256 of each policy source in a commit's tree."""
    digests = {}
    for path in SOURCES:
        tree, _ = reader.commit(commit_id)
        *dirs, name = path.split("/")
        for directory in dirs:
            tree = next(oid for entry, _, oid in reader.tree(tree) if entry == directory)
        blob = next(oid for entry, _, oid in reader.tree(tree) if entry == name)
        digests[path] = hashlib.sha256(reader.blob(blob)).hexdigest()
    return digests


def fsck_strict(path: Path) -> None:
    result = subprocess.run(["git", "fsck", "--strict", "--no-dangling", "--no-progress"], cwd=path,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


# ---- building the repositories -------------------------------------------------------
def cli(root: Path, *args: str, exit_code: int = 0) -> Any:
    """The command line, in process (the hooks that git runs are separate processes)."""
    result = CliRunner().invoke(speckit_cli, ["-C", str(root), *args])
    assert result.exit_code == exit_code, f"{args}: {result.exit_code}\n{result.output}"
    return json.loads(result.stdout) if "--json" in args else result.stdout


def edit_policy(root: Path, old: str, new: str) -> None:
    path = root / "model_policy.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@dataclass
class Team:
    alice: Path
    bob: Path
    remote: Path
    first: str  # the first policy commit
    back_to_first: str  # a later commit with the same policy content
    amended_away: str  # the commit an amend replaced
    long_run: int  # events in the run that spans two chunks


@pytest.fixture(scope="module")
def team(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Team:
    """Built once per test session: under pytest-xdist the workers share one build
    (the directory above each worker's basetemp is the session's), since its tests
    only read it."""
    if not hasattr(request.config, "workerinput"):
        return build_isolated(tmp_path_factory.mktemp("team"))
    shared = tmp_path_factory.getbasetemp().parent / "independent-reader"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = shared / "team.json"
        if built.exists():
            fields = json.loads(built.read_text())
            return Team(**{k: Path(v) if k in ("alice", "bob", "remote") else v for k, v in fields.items()})
        team = build_isolated(shared / "team")
        built.write_text(json.dumps({k: str(v) if isinstance(v, Path) else v
                                     for k, v in dataclasses.asdict(team).items()}))
        return team


def build_isolated(base: Path) -> Team:
    base.mkdir(exist_ok=True)
    (base / "home").mkdir()
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_git_env(base / "home", monkeypatch)
        return build_team(base)


def build_team(base: Path) -> Team:
    remote, alice, bob = base / "remote.git", base / "alice", base / "bob"
    git(base, "init", "-q", "--bare", str(remote))
    git(base, "init", "-q", str(alice))
    install_hooks(alice)
    set_policy(alice, 5.0)
    git(alice, "add", "-A")
    commit(alice, "Add model policy")
    first = head(alice)

    # A run through stages, a checkpoint with a payload, and decisions.
    cli(alice, "run", "start", "--run-id", "alpha", "--json")
    cli(alice, "run", "stage", "alpha", "plan", "--json")
    cli(alice, "run", "checkpoint", "alpha", "--label", "drafted", "--prompt", "P", "--output", "O", "--json")
    cli(alice, "budget", "tokens", "plan", "100", "--run", "alpha", "--json")
    cli(alice, "budget", "tokens", "plan", "9000", "--run", "alpha", "--json", exit_code=1)
    cli(alice, "route", "judge", "--run", "alpha", "--json")

    # Policy commits: a change the run picks up at its next stage, an amend, a
    # commit that does not touch the policy, and a return to the first content.
    set_policy(alice, 6.0)
    commit(alice, "warn at 6", "-a")
    cli(alice, "run", "stage", "alpha", "implement", "--json")
    set_policy(alice, 7.0)
    commit(alice, "warn at 7", "-a")
    amended_away = head(alice)
    commit(alice, "warn at seven", "--amend")
    (alice / "README").write_text("hello\n")
    git(alice, "add", "README")
    commit(alice, "readme")
    set_policy(alice, 5.0)
    commit(alice, "back to 5", "-a")
    back_to_first = head(alice)
    samples = base / "samples.txt"
    samples.write_text("\n".join(str(ms) for ms in range(100, 200)) + "\n")
    cli(alice, "gate", "reflex_promotion", "--samples", str(samples), "--success", "85/100",
        "--run", "alpha", "--json")

    # A run longer than one chunk of events.
    long_run = runs.start_run(alice, "long")
    for i in range(EVENTS_PER_CHUNK + 3):
        long_run.checkpoint(f"step {i}")

    git(alice, "remote", "add", "origin", str(remote))
    git(alice, "push", "-q", "-u", "origin", "main")
    cli(alice, "push", "origin")

    # Bob clones, takes the capsule, changes another key and appends to alpha too.
    git(base, "clone", "-q", str(remote), str(bob))
    install_hooks(bob)
    cli(bob, "pull", "origin")
    cli(bob, "verify", "--repair")
    edit_policy(bob, 'judge = ["claude-sonnet-4-20250514"]', 'judge = ["claude-sonnet-4-20250514", "gpt-4o"]')
    commit(bob, "judge may use gpt-4o", "-a")
    cli(bob, "run", "start", "--run-id", "beta", "--json")
    cli(bob, "run", "stage", "beta", "plan", "--json")
    cli(bob, "run", "checkpoint", "alpha", "--label", "bob-side", "--json")
    git(bob, "push", "-q", "origin", "main")
    cli(bob, "push", "origin")

    # Meanwhile Alice goes on, then pulls: the capsule refs merge, the branch merges.
    cli(alice, "run", "checkpoint", "alpha", "--label", "alice-side", "--json")
    set_policy(alice, 9.0)
    commit(alice, "warn at 9", "-a")
    pulled = cli(alice, "pull", "origin", "--json")
    assert "merged" in pulled["refs"].values(), pulled
    git(alice, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    cli(alice, "run", "checkpoint", "alpha", "--label", "after-merge", "--json")
    git(alice, "push", "-q", "origin", "main")
    cli(alice, "push", "origin")

    git(bob, "pull", "-q", "--ff-only", "origin", "main")
    # Bob's post-merge hook captured the merge's content before his capsule had
    # Alice's snapshot of it: two snapshots of one content, both kept. One more round
    # of sync and all three capsules are the same.
    for clone, verb in ((bob, "pull"), (bob, "push"), (alice, "pull"), (alice, "push"), (bob, "pull")):
        cli(clone, verb, "origin")
    for clone in (alice, bob):
        cli(clone, "verify", "--repair")  # each clone's .speckit/ gets the other's snapshots
    return Team(alice, bob, remote, first, back_to_first, amended_away, EVENTS_PER_CHUNK + 4)


# ---- the tests -------------------------------------------------------------------------
def test_gitpython_reads_every_ref_snapshot_binding_and_event(team: Team) -> None:
    checked = {}
    for name, path, work_tree in (("alice", team.alice, team.alice), ("bob", team.bob, team.bob),
                                  ("remote", team.remote, None)):
        reader = gitpython_at(path)
        checked[name] = check_capsule(reader, read_capsule(reader), work_tree)
        fsck_strict(path)
    alice = checked["alice"]
    # Both clones and the remote hold the same capsule, refs included.
    assert gitpython_at(team.alice).refs("refs/speckit") == gitpython_at(team.bob).refs("refs/speckit") \
        == gitpython_at(team.remote).refs("refs/speckit")
    assert gitpython_at(team.alice).refs("refs/speckit-pull") == {}  # staging refs are gone

    # What was built is what was read.
    assert set(alice.runs) == {"alpha", "beta", "long"}
    assert len(alice.runs["long"]) == team.long_run
    alpha = alice.runs["alpha"]
    labels = [e.get("label") for e in alpha if e["type"] == "Checkpoint"]
    assert labels == ["drafted", "bob-side", "alice-side", "after-merge"]  # merged by timestamp
    decisions = [e for e in alpha if e["type"].endswith("Decision")]
    assert [e["type"] for e in decisions] == ["BudgetDecision"] * 2 + ["RouteDecision", "GateDecision"]
    assert [e["decision"]["decision"] for e in decisions[:2]] == ["allow", "deny"]
    stages = [e for e in alpha if e["type"] == "StageTransition"]
    assert [(e["from"], e["to"]) for e in stages] == [(None, "plan"), ("plan", "implement")]
    assert stages[1]["policy_changed"] is True and stages[1]["policy_id"] != stages[0]["policy_id"]
    drafted = next(e for e in alpha if e.get("label") == "drafted")
    assert drafted["payload"] == {"prompt": "P"} and drafted["dropped"] == ["output"]  # prompts_only

    # Six contents: warn 5 (the first commit and "back to 5"), 6, 7, 9, Bob's judge, the
    # merge. Bob's hooks captured warn 9 and the merge again before his capsule had
    # Alice's snapshots of them: same content, other ids, both kept and indexed.
    assert len({d["hash"] for d in alice.snapshots.values()}) == 6
    bound_to = {b["commit"]: pid for pid, listed in alice.bindings.items() for b in listed}
    first = bound_to[team.first]
    assert [b["commit"] for b in alice.bindings[first]] == [team.first, team.back_to_first]
    amended = [b for listed in alice.bindings.values() for b in listed if b["rewritten_from"]]
    assert [b["rewritten_from"] for b in amended] == [[team.amended_away]]
    merge = head(team.alice)
    assert any(b["commit"] == merge for listed in alice.bindings.values() for b in listed)


def test_capsule_history_only_grows(team: Team) -> None:
    """Every commit of every capsule ref follows the layout (read_capsule checks each
    one's paths), and what a commit holds, each later commit still holds: a snapshot
    keeps its bytes, an index entry stays, a bound commit stays bound (a rewrite keeps
    it in rewritten_from), a run keeps every event it had."""
    reader = gitpython_at(team.alice)
    found = read_capsule(reader, history=True)

    def commits_of(bindings: bytes) -> set[str]:
        return {sha for b in json.loads(bindings) for sha in (b["commit"], *b["rewritten_from"])}

    seen: dict[str, Any] = {}  # blob -> what it says (one parse per blob)
    for ref, history in found.capsule_commits.items():
        tip = found.tips[ref]
        tip_events = {json.loads(data)["event_id"] for path, data in tip.items()
                      if not SUMMARY_PATH.fullmatch(path)} if "/runs/" in ref else set()
        assert len(history) > 1
        for commit_id in history:
            for path, oid in blobs(reader, reader.commit(commit_id)[0]):
                if path.startswith("snapshots/"):
                    assert reader.blob(oid) == tip[path], f"{path} changed after {commit_id}"
                elif path.startswith(("by-hash/", "by-commit/")):
                    assert path in tip, f"{path} dropped after {commit_id}"
                elif path.startswith("bindings/"):
                    if oid not in seen:
                        seen[oid] = commits_of(reader.blob(oid))
                    assert seen[oid] <= commits_of(tip[path]), f"{path}: a binding lost after {commit_id}"
                elif not SUMMARY_PATH.fullmatch(path):
                    if oid not in seen:
                        seen[oid] = json.loads(reader.blob(oid))["event_id"]
                    assert seen[oid] in tip_events, f"{ref}: an event lost after {commit_id}"


def test_gc_keeps_everything_and_git_still_reads_it(team: Team, tmp_path: Path) -> None:
    """After gc packs refs and objects (and prunes what nothing reaches), the same
    capsule reads back, the amended-away commit included."""
    clone = tmp_path / "gc"
    git(tmp_path, "clone", "-q", "--mirror", str(team.alice), str(clone))
    before = read_capsule(Cached(GitPythonReader(clone)))
    git(clone, "reflog", "expire", "--expire=now", "--all")
    git(clone, "gc", "-q", "--prune=now")
    assert not [p for p in (clone / "refs").rglob("*") if p.is_file()]  # every ref is packed now
    reader = Cached(GitPythonReader(clone))  # a new reader: the objects moved into a pack
    after = read_capsule(reader)
    assert after.refs == before.refs and after.tips == before.tips
    assert team.amended_away in after.reachable
    check_capsule(reader, after, None)
    fsck_strict(clone)


def test_pygit2_sees_the_same_objects(team: Team) -> None:
    pytest.importorskip("pygit2")
    for path in (team.alice, team.bob, team.remote):
        ours, theirs = read_capsule(gitpython_at(path)), read_capsule(Cached(Pygit2Reader(path)))
        assert theirs.refs == ours.refs
        assert theirs.tips == ours.tips
        assert theirs.capsule_commits == ours.capsule_commits
        assert theirs.reachable == ours.reachable
