"""From a run to the policy that governed it: ``trace`` and ``blame`` (docs/DESIGN.md §9).

``trace``: the run's events and, for each distinct snapshot that governed it, the
commit its sources came from, with author, date and subject. The commit is the
snapshot's binding of the commit the event recorded, so it follows an amend or a
rebase (post-rewrite moves the binding); else its first binding; else the
commit recorded in the event. The capsule keeps
bound commits reachable, so this works after ``git gc --prune=now`` and in a fresh
clone after ``pull``.

``blame``: every policy key in force for the run's latest snapshot, with the
commit, author and date git's own ``blame`` gives for the line(s) that set it in
the policy file at the snapshot's commit. A value written over several lines (an
array) reports the newest of its lines' commits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from speckit_git_policy.canonical import sha256_hex
from speckit_git_policy.errors import BadInput, GitError, NotFound, SpeckitError
from speckit_git_policy.git.plumbing import blame_lines, commit_info
from speckit_git_policy.git.repo import GitRepo, as_repo
from speckit_git_policy.policy.sources import git_entries, source_paths
from speckit_git_policy.policy.tomlpos import _ASSIGN, _HEADER, KeyLines, _ValueScanner
from speckit_git_policy.runs.events import capsule_of, read_events
from speckit_git_policy.runs.records import Event
from speckit_git_policy.snapshot import policy_keys
from speckit_git_policy.store import Stores
from speckit_git_policy.store.bindings import Binding, find
from speckit_git_policy.text import did_you_mean

if TYPE_CHECKING:
    from speckit_git_policy.git.plumbing import CommitInfo
    from speckit_git_policy.git.repo import RepoLike


class _TracedSnapshot(TypedDict):
    policy_id: str
    hash: str | None
    uri: str | None
    verified: bool
    commit: str | None
    rewritten_from: list[str]
    author: str | None
    date: str | None
    subject: str | None


class TracedSnapshot(_TracedSnapshot, total=False):
    """A snapshot that governed the run, and the commit its sources came from."""

    problem: str  # the snapshot does not verify (``verify`` reports it too)


class Trace(TypedDict):
    run_id: str
    events: list[Event]
    snapshots: list[TracedSnapshot]


def trace(repo: RepoLike, run_id: str, *, stores: Stores | None = None) -> Trace:
    """The run's events and the snapshots that governed it, with their commits."""
    git_repo = as_repo(repo)
    stores = stores or Stores(git_repo)
    events = read_events(capsule_of(stores), run_id, skip_unreadable=True)
    first_event: dict[str, Event] = {}
    for event in events:
        policy_id = event.get("policy_id")
        if policy_id is not None:
            first_event.setdefault(policy_id, event)
    infos: dict[str, CommitInfo | None] = {}
    snapshots = []
    for policy_id, event in first_event.items():
        row = _snapshot_row(git_repo, stores, policy_id, event)
        commit = row["commit"]
        if commit is not None and commit not in infos:
            infos[commit] = _commit_info(git_repo, commit)
        info = infos.get(commit) if commit else None
        if info:
            row["author"], row["date"], row["subject"] = (
                info["author"],
                info["date"],
                info["subject"],
            )
        snapshots.append(row)
    return {"run_id": run_id, "events": events, "snapshots": snapshots}


def _snapshot_row(repo: GitRepo, stores: Stores, policy_id: str, event: Event) -> TracedSnapshot:
    row: TracedSnapshot = {
        "policy_id": policy_id,
        "hash": event.get("policy_hash"),
        "uri": event.get("policy_uri"),
        "verified": False,
        "commit": None,
        "rewritten_from": [],
        "author": None,
        "date": None,
        "subject": None,
    }
    document: dict[str, Any] | None = None
    try:
        document = stores.load(policy_id)
        row["verified"] = document.get("hash") == event.get("policy_hash")
        row["hash"] = document.get("hash")
    except SpeckitError as e:
        row["problem"] = str(e)  # `verify` reports it; the trace still shows what the run recorded
    bindings = _bindings(stores, policy_id)
    candidates = governing_commits(bindings, event, document)
    row["commit"] = candidates[0] if candidates else None
    governing = find(bindings, row["commit"]) if row["commit"] is not None else None
    row["rewritten_from"] = list(governing["rewritten_from"]) if governing else []
    return row


def _bindings(stores: Stores, policy_id: str) -> list[Binding]:
    try:
        return stores.bindings(policy_id)
    except NotFound:
        return []  # a snapshot only the filesystem holds has only filesystem bindings


def governing_commits(
    bindings: list[Binding], event: Event | None, document: dict[str, Any] | None
) -> list[str]:
    """Commits that carry the snapshot's content, best first.

    First the binding of the commit the run read its sources at (the event's
    commit, or the commit an amend or rebase rewrote it into): a content that
    several commits carry (a revert, a cherry-pick) governed this run from that
    one. Then the other bindings (the first is the one ``list`` shows), the
    event's own commit and the commit the snapshot was captured from.
    """
    recorded = event.get("commit") if event is not None else None
    found = [
        b["commit"]
        for b in bindings
        if recorded is not None and (b["commit"] == recorded or recorded in b["rewritten_from"])
    ]
    found += [b["commit"] for b in bindings]
    if recorded is not None:
        found.append(recorded)
    if document is not None:
        captured = (document.get("provenance") or {}).get("commit")
        if isinstance(captured, str):
            found.append(captured)
    return list(dict.fromkeys(found))


def _commit_info(repo: GitRepo, commit: str) -> CommitInfo | None:
    try:
        return commit_info(repo, commit)
    except GitError:
        return None  # not in this clone (never fetched): the trace says so with nulls


# ---- blame -------------------------------------------------------------------------
class _BlamedKey(TypedDict):
    key: str
    value: Any  # the key's value in the snapshot: any TOML value
    commit: str | None
    author: str | None
    date: str | None
    line: int | None
    end_line: int | None
    policy_id: str


class BlamedKey(_BlamedKey, total=False):
    """A policy key in force for the run, and the commit that last set its line(s)."""

    subject: str | None  # present when a commit was found


def blame(
    repo: RepoLike, run_id: str, key: str | None = None, *, stores: Stores | None = None
) -> list[BlamedKey]:
    """Every policy key in force for the run's latest snapshot (or ``key``), in file order."""
    git_repo = as_repo(repo)
    stores = stores or Stores(git_repo)
    events = read_events(capsule_of(stores), run_id, skip_unreadable=True)
    latest = next((e for e in reversed(events) if "policy_id" in e), None)
    policy_id = latest.get("policy_id") if latest is not None else None
    if latest is None or policy_id is None:
        raise NotFound(f"run {run_id!r} names no policy snapshot")
    document = stores.load(policy_id)
    keys = select_keys(policy_keys(document), key)
    policy_file = _policy_file(git_repo, document)
    commit, text = _commit_with_source(git_repo, stores, run_id, latest, document, policy_file)
    key_lines = KeyLines(text)
    lines = text.splitlines()
    spans = {name: _span(key_lines, lines, name) for name in keys}
    wanted = sorted({n for span in spans.values() if span for n in range(span[0], span[1] + 1)})
    by_line = blame_lines(git_repo, commit, policy_file, wanted)
    infos: dict[str, CommitInfo | None] = {}
    rows: list[BlamedKey] = []
    for name, value in keys.items():
        span = spans[name]
        row: BlamedKey = {
            "key": name,
            "value": value,
            "commit": None,
            "author": None,
            "date": None,
            "line": span[0] if span else None,
            "end_line": span[1] if span else None,
            "policy_id": policy_id,
        }
        if span:
            # The newest commit among the value's lines (author time), like a blame
            # of the whole value.
            newest = max(
                (by_line[n] for n in range(span[0], span[1] + 1) if n in by_line),
                key=lambda entry: entry[1],
                default=None,
            )
            if newest is not None:
                sha = newest[0]
                if sha not in infos:
                    infos[sha] = _commit_info(git_repo, sha)
                info = infos[sha]
                row["commit"] = sha
                row["author"] = info["author"] if info else None
                row["date"] = info["date"] if info else None
                row["subject"] = info["subject"] if info else None
        rows.append(row)
    rows.sort(key=lambda row: (row["line"] if row["line"] is not None else 1 << 30, row["key"]))
    return rows


def select_keys(keys: dict[str, Any], key: str | None) -> dict[str, Any]:
    """All keys, one key, or the keys under a table; an unknown key is BadInput with a hint."""
    if key is None:
        return keys
    if key in keys:
        return {key: keys[key]}
    under = {name: value for name, value in keys.items() if name.startswith(key + ".")}
    if under:
        return under
    raise BadInput(f"no policy key {key!r} in force for this run{did_you_mean(key, list(keys))}")


def _policy_file(repo: GitRepo, document: dict[str, Any]) -> str:
    configured = source_paths(repo).policy
    files = document.get("source_files") or []
    if configured in files:
        return configured
    tomls = [path for path in files if isinstance(path, str) and path.endswith(".toml")]
    if not tomls:
        raise NotFound(f"snapshot {document.get('policy_id')} names no TOML source file")
    return tomls[0]


def _commit_with_source(
    repo: GitRepo,
    stores: Stores,
    run_id: str,
    event: Event,
    document: dict[str, Any],
    policy_file: str,
) -> tuple[str, str]:
    """The first commit carrying the snapshot whose policy file has the snapshot's bytes,
    and that file's text: blame must read the very lines that were compiled."""
    policy_id = str(document["policy_id"])
    candidates = governing_commits(_bindings(stores, policy_id), event, document)
    if not candidates:
        raise NotFound(
            f"snapshot {policy_id} of run {run_id!r} was captured from uncommitted "
            "edits (dirty) and no commit carries its content, so there is no commit to blame; "
            "commit the policy sources, then blame again"
        )
    digest = (document.get("source_digests") or {}).get(policy_file)
    for commit in candidates:
        try:
            entry = git_entries(repo, commit, [policy_file]).get(policy_file)
        except GitError:
            continue  # a commit this clone does not have
        if entry is None or entry[2] is None:
            continue  # absent, or not a file
        data = repo.read_blob(entry[1])
        if digest is None or sha256_hex(data) == digest:
            return commit, data.decode("utf-8", "replace")
    raise NotFound(
        f"no commit available here carries {policy_file} as snapshot {policy_id} has it "
        f"(tried {', '.join(c[:12] for c in candidates)}); fetch them or run: git speckit-policy pull"
    )


def _span(key_lines: KeyLines, lines: list[str], dotted: str) -> tuple[int, int] | None:
    """First and last line of the value that sets ``dotted``."""
    start = key_lines.line_of_dotted(dotted)
    if start is None or start > len(lines):
        return None
    text = lines[start - 1]
    if _HEADER.match(text):
        return start, start  # an empty table: its header sets it
    assign = _ASSIGN.match(text)
    if assign is None:
        return start, start
    scanner = _ValueScanner()
    scanner.feed(text, assign.end())
    end = start
    while scanner.inside and end < len(lines):
        end += 1
        scanner.feed(lines[end - 1])
    return start, end
