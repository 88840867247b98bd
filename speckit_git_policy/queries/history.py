"""``log``: the policy's history, newest first (docs/DESIGN.md §9).

``log [REV]`` walks REV's history (default HEAD) in git's own order, as ``git log``
does: one entry per commit that changed the sources and carries a snapshot. So an
entry is in the history you have checked out (a rebase's originals are not, until
``git reset --hard ORIG_HEAD`` brings them back), and a commit dated before its
parent still comes after its child. The walk is ``git rev-list --full-history -- <the
sources>`` (so a merge that changed them against a parent is seen), read in batches:
``log -n 10`` reads about ten bound commits' worth of history, whatever its length.
Which walked commits are bound is asked of the capsule's by-commit index, one lookup
each; the whole history (no ``-n``) reads every binding once instead, as without the
capsule, through ``history_index`` (what depends only on bytes, remembered by their ids:
a second ``log`` parses no document it has seen), with git's walk and the commits'
authors read in threads meanwhile.

``log --all`` lists every binding, of every snapshot, in git's order over the bound
commits; bindings of commits this clone lacks come last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from speckit_git_policy.git.plumbing import (
    commit_infos,
    existing_commits,
    parse_object_ids,
    rev_list,
)
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store import Stores
from speckit_git_policy.store.bindings import find

TYPE_CHECKING = False
if TYPE_CHECKING:
    from speckit_git_policy.git.plumbing import CommitInfo
    from speckit_git_policy.queries.history_index import HistoryIndex


def _read_document(stores: Stores, policy_id: str) -> dict[str, Any] | None:
    """A snapshot's document, parsed but not re-hashed: a view, like ``list``; ``verify``
    checks hashes. Either copy will do (a fresh clone may have only the capsule)."""
    from speckit_git_policy.canonical import parse_json_bytes

    data = stores.fs.read(policy_id)
    if data is None and stores.capsule is not None:
        data = stores.capsule.get_snapshot(policy_id)
    if data is None:
        return None
    try:
        document = parse_json_bytes(data)
    except (ValueError, UnicodeDecodeError):
        return None  # `verify` reports it; the history shows what can be read
    return document if isinstance(document, dict) else None


def _keyed(document: dict[str, Any]) -> dict[str, Any]:
    """The dotted keys ``snapshot.diff_documents`` compares: policy keys and source digests."""
    from speckit_git_policy.snapshot import flatten, policy_keys

    keys = policy_keys(document)
    keys.update(flatten(document.get("source_digests", {}), "source_digests"))
    return keys


def _same_json(old: Any, new: Any) -> bool:
    """Equal as JSON values, as ``snapshot.diff_documents`` decides it (1 == 1.0, True != 1),
    without canonicalizing every value: log compares thousands of keys."""
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return old == new
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(_same_json(a, b) for a, b in zip(old, new))
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_same_json(old[k], new[k]) for k in old)
    return type(old) is type(new) and old == new


def changed_keys(older: dict[str, Any], newer: dict[str, Any]) -> list[str]:
    """The keys ``snapshot.diff_documents(older, newer)`` reports, from pre-flattened documents."""
    return [
        key
        for key in sorted(older.keys() | newer.keys())
        if key not in older or key not in newer or not _same_json(older[key], newer[key])
    ]


class LogEntry(TypedDict):
    """One binding in ``log``: the snapshot, the bound commit, and the keys it changed."""

    policy_id: str
    hash: str | None
    commit: str
    author: str | None
    date: str | None
    subject: str | None
    changed: list[str]


# A first batch of the walk for ``log -n N`` reads this many times N commits that
# changed a source (most are bound); each further batch reads four times more.
WALK_BATCH_FACTOR = 2
WALK_BATCH_MIN = 32


def policy_log(
    repo: GitRepo,
    stores: Stores,
    limit: int | None = None,
    rev: str | None = None,
    *,
    every_binding: bool = False,
) -> list[LogEntry]:
    """The policy's history, newest first: REV's history (default HEAD), or with
    ``every_binding`` every binding (``log --all``)."""
    if limit is not None and limit <= 0:
        return []
    if not every_binding and rev is None and repo.head() is None:
        return []
    if every_binding or limit is None:
        stores.capsule  # noqa: B018 -- merges what git fetched first, as every reader does
        if not every_binding:
            return _whole_log(repo, stores, repo.resolve_commit(rev or "HEAD"))
        from speckit_git_policy.queries.history_index import HistoryIndex

        index = HistoryIndex(repo, stores)
        index.start()
        try:
            entries = _entries(repo, stores, _every_binding(repo, stores, index), limit, index)
            index.save()
            return entries
        finally:
            index.close()
    # One more than shown: the oldest shown entry's "changed" compares with it.
    pairs = _walk(repo, stores, repo.resolve_commit(rev or "HEAD"), limit + 1)
    return _entries(repo, stores, pairs, limit, walked=True)


def _whole_log(repo: GitRepo, stores: Stores, start: str) -> list[LogEntry]:
    """Every entry of ``start``'s history: kept ones while nothing they come from changed
    (``log_memo``), else computed through the index (``history_index``) and kept."""
    from speckit_git_policy.policy.sources import source_paths
    from speckit_git_policy.queries.history_index import HistoryIndex
    from speckit_git_policy.queries.log_memo import LogMemo

    memo = LogMemo(repo, stores, start, source_paths(repo).all())
    infos = memo.infos
    kept = memo.entries()
    if kept is not None:
        return [
            _entry(policy_id, sha, hash_, changed, infos) for policy_id, sha, hash_, changed in kept
        ]
    index = HistoryIndex(repo, stores)
    index.start()
    try:
        lookup = _bound_lookup(stores, whole=True, index=index)
        pairs = [(policy_id, sha) for sha in infos if (policy_id := lookup(sha)) is not None]
        entries = _entries(repo, stores, pairs, None, index, infos=infos)
        index.save()
    finally:
        index.close()
    memo.save([(e["policy_id"], e["commit"], e["hash"], e["changed"]) for e in entries])
    return entries


def _walk(
    repo: GitRepo,
    stores: Stores,
    start: str,
    wanted: int,
) -> list[tuple[str, str]]:
    """(policy_id, commit) of the bound commits that changed a source in ``start``'s
    history, in git's order, until ``wanted`` are found (the whole history: ``_whole_log``)."""
    from speckit_git_policy.policy.sources import source_paths

    paths = source_paths(repo).all()
    lookup = _bound_lookup(stores, whole=False)
    found: list[tuple[str, str]] = []
    skip = 0
    batch = max(wanted * WALK_BATCH_FACTOR, WALK_BATCH_MIN)
    while True:
        window = [f"--max-count={batch}", f"--skip={skip}"]
        shas = rev_list(repo, "--full-history", *window, start, pathspecs=paths)
        for sha in shas:
            policy_id = lookup(sha)
            if policy_id is not None:
                found.append((policy_id, sha))
                if len(found) >= wanted:
                    return found
        if len(shas) < batch:
            return found
        skip += len(shas)
        batch *= 4


def _bound_lookup(
    stores: Stores, whole: bool, index: HistoryIndex | None = None
) -> Callable[[str], str | None]:
    """commit -> the snapshot it carries, or None: a commit bound itself, else one a
    binding was rewritten from (a rebase's original, back in the history after
    ``reset --hard ORIG_HEAD``). Of two snapshots of one commit, the oldest.

    For a few entries, one lookup in the capsule's by-commit index per walked commit;
    for the whole history (or without the capsule), every binding read once."""
    capsule = stores.capsule
    by_commit: dict[str, tuple[list[str], list[str]]] | None = None

    def every_binding() -> dict[str, tuple[list[str], list[str]]]:
        nonlocal by_commit
        if by_commit is None:
            by_commit = {}
            every = index.all_bindings() if index is not None else stores.all_bindings()
            for policy_id, bindings in every.items():
                for binding in bindings:
                    by_commit.setdefault(binding["commit"], ([], []))[0].append(policy_id)
                    for old in binding["rewritten_from"]:
                        by_commit.setdefault(old, ([], []))[1].append(policy_id)
        return by_commit

    def created(policy_id: str) -> str:
        if index is not None:
            facts = index.document_facts(policy_id)
            return str(facts[1] if facts is not None else "")
        return str((_read_document(stores, policy_id) or {}).get("created_at", ""))

    def oldest(candidates: list[str]) -> str | None:
        if len(candidates) < 2:
            return candidates[0] if candidates else None
        return min(candidates, key=lambda p: (created(p), p))

    def lookup(sha: str) -> str | None:
        if capsule is None or whole:
            itself, rewritten = every_binding().get(sha, ([], []))
            return oldest(itself or rewritten)
        found = capsule.policies_for_commit(sha)
        if len(found) < 2:
            return found[0] if found else None
        # Two snapshots name it: the one that binds it itself wins over one it was
        # folded into (a squash of originals of other content).
        itself = [p for p in found if find(capsule.bindings(p), sha) is not None]
        return oldest(itself or found)

    return lookup


def _every_binding(
    repo: GitRepo, stores: Stores, index: HistoryIndex | None = None
) -> list[tuple[str, str]]:
    """Every (policy_id, commit) binding: the commits present in git's order (a walk from
    them, newest first), then those this clone lacks."""
    every = index.all_bindings() if index is not None else stores.all_bindings()
    pairs = [
        (policy_id, binding["commit"])
        for policy_id, bindings in every.items()
        for binding in bindings
    ]
    commits = list(dict.fromkeys(commit for _, commit in pairs))
    present = set(existing_commits(repo, commits))
    order: dict[str, int] = {}
    if present:
        out = repo.git(
            "rev-list", "--stdin", input_bytes="".join(f"{c}\n" for c in sorted(present)).encode()
        )
        for sha in parse_object_ids(out):
            if sha in present and sha not in order:
                order[sha] = len(order)
    last = len(order)
    pairs.sort(key=lambda pair: (order.get(pair[1], last), pair[1] not in present, pair[0]))
    return pairs


def _entries(
    repo: GitRepo,
    stores: Stores,
    pairs: list[tuple[str, str]],
    limit: int | None,
    index: HistoryIndex | None = None,
    *,
    walked: bool = False,
    infos: dict[str, CommitInfo] | None = None,
) -> list[LogEntry]:
    """The entries of ``pairs`` (the first ``limit``), with the commits' ``infos`` where
    the walk gave them, else read meanwhile."""
    from speckit_git_policy.queries.history_index import Background

    shown = pairs if limit is None else pairs[:limit]
    reading = None
    if infos is None:  # git reads the commits while the documents are read and compared
        commits = list(dict.fromkeys(sha for _, sha in shown))
        reading = Background(lambda: commit_infos(repo, commits, all_present=walked))
    view = _IndexedDocuments(index) if index is not None else _Documents(stores)
    changes: list[tuple[Any, list[str]]] = []
    for position, (policy_id, _sha) in enumerate(shown):
        current = view.facts(policy_id)
        older_id = pairs[position + 1][0] if position + 1 < len(pairs) else None
        older = view.facts(older_id) if older_id is not None else None
        if current is None:
            changed: list[str] = []
        elif older_id is None:
            changed = view.all_keys(policy_id)  # the first entry sets every key
        elif older_id == policy_id or (older is not None and older[0] == current[0]):
            changed = []  # same content again (a revert, a cherry-pick, a merge)
        else:
            changed = view.changed_keys(older_id, policy_id) if older is not None else []
        changes.append((current, changed))
    if reading is not None:
        infos = reading.result()
    assert infos is not None
    return [
        _entry(policy_id, sha, current[0] if current is not None else None, changed, infos)
        for (policy_id, sha), (current, changed) in zip(shown, changes)
    ]


def _entry(
    policy_id: str, sha: str, hash_: Any, changed: list[str], infos: dict[str, CommitInfo]
) -> LogEntry:
    found = infos.get(sha)
    return {
        "policy_id": policy_id,
        "hash": hash_,
        "commit": sha,
        "author": found["author"] if found else None,
        "date": found["date"] if found else None,
        "subject": found["subject"] if found else None,
        "changed": changed,
    }


class _Documents:
    """The documents of a few entries (``log -n``), read and parsed as they come."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.documents: dict[str, dict[str, Any] | None] = {}
        self.keyed: dict[str, dict[str, Any]] = {}

    def document(self, policy_id: str) -> dict[str, Any] | None:
        if policy_id not in self.documents:
            self.documents[policy_id] = _read_document(self.stores, policy_id)
        return self.documents[policy_id]

    def facts(self, policy_id: str) -> tuple[Any] | None:
        """(hash,) as the document holds it (an empty document has none: None), or None
        when there is no document to read."""
        document = self.document(policy_id)
        if document is None:
            return None
        return (document.get("hash") if document else None,)

    def flat(self, policy_id: str) -> dict[str, Any]:
        if policy_id not in self.keyed:
            self.keyed[policy_id] = _keyed(self.document(policy_id) or {})
        return self.keyed[policy_id]

    def all_keys(self, policy_id: str) -> list[str]:
        return all_keys(self.document(policy_id) or {})

    def changed_keys(self, older_id: str, policy_id: str) -> list[str]:
        return changed_keys(self.flat(older_id), self.flat(policy_id))


class _IndexedDocuments:
    """The documents of the whole history, through the index (``history_index``)."""

    def __init__(self, index: HistoryIndex) -> None:
        self.index = index

    def facts(self, policy_id: str) -> tuple[Any] | None:
        found = self.index.document_facts(policy_id)
        return (found[0],) if found is not None else None

    def all_keys(self, policy_id: str) -> list[str]:
        return self.index.all_keys(policy_id)

    def changed_keys(self, older_id: str, policy_id: str) -> list[str]:
        return self.index.changed_keys(older_id, policy_id)


def all_keys(document: dict[str, Any]) -> list[str]:
    """Every dotted key a snapshot sets: its policy keys and source digests."""
    from speckit_git_policy.snapshot import flatten, policy_keys

    keys = {key for key, value in policy_keys(document).items() if value != {}}
    keys.update(flatten(document.get("source_digests", {}), "source_digests"))
    return sorted(keys)


def entries_json(entries: list[LogEntry]) -> str:
    """``json.dumps(entries, indent=2, ensure_ascii=False)``, written here: with an indent
    json has no C encoder, and at 10,000 entries its Python one took longer than the log.
    Strings are escaped by the very function that encoder uses; an entry holding anything
    else than text, null and a list of texts (a hash a corrupted document holds) is left
    to ``json.dumps``."""
    import json
    from json.encoder import encode_basestring

    def text(value: object) -> str:
        return "null" if value is None else encode_basestring(str(value))  # str: checked

    if not entries:
        return "[]"
    blocks = []
    for entry in entries:
        changed = entry["changed"]
        if not all(
            value is None or type(value) is str for key, value in entry.items() if key != "changed"
        ) or not all(type(key) is str for key in changed):
            blocks.append(
                "  " + json.dumps(entry, indent=2, ensure_ascii=False).replace("\n", "\n  ")
            )
            continue
        lines = []
        for key, value in entry.items():
            if key != "changed":
                lines.append(f"    {encode_basestring(key)}: {text(value)}")
            elif changed:
                listed = ",\n".join(f"      {encode_basestring(item)}" for item in changed)
                lines.append(f'    "changed": [\n{listed}\n    ]')
            else:
                lines.append('    "changed": []')
        blocks.append("  {\n" + ",\n".join(lines) + "\n  }")
    return "[\n" + ",\n".join(blocks) + "\n]"
