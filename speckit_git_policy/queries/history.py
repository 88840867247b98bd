"""``log``: the policy's history, one entry per binding, newest first (docs/DESIGN.md §9).

The cost follows the number of bindings, never the number of commits: the
bindings come from the stores, and the author, date and subject of every bound
commit from one ``git log --no-walk --stdin`` call. Commits of the same second
are put in ancestry order by one bounded ``rev-list --max-age`` walk per tie.
"""

from __future__ import annotations

from typing import Any, TypedDict

from speckit_git_policy.git.plumbing import commit_infos, rev_list
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.store import Stores


def _ancestry_rank(repo: GitRepo, shas: list[str], timestamp: int) -> dict[str, int]:
    """Newest-first topological positions of commits made in the same second.

    ``--max-age`` stops the walk at older commits, so this costs the commits of that
    second, not the history.
    """
    wanted = set(shas)
    order = [
        sha
        for sha in rev_list(repo, "--topo-order", f"--max-age={timestamp}", *shas)
        if sha in wanted
    ]
    return {sha: position for position, sha in enumerate(order)}


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


def policy_log(repo: GitRepo, stores: Stores, limit: int | None = None) -> list[LogEntry]:
    """One entry per binding, newest first."""
    pairs = [
        (policy_id, binding["commit"])
        for policy_id, bindings in stores.all_bindings().items()
        for binding in bindings
    ]
    commits = list(dict.fromkeys(commit for _, commit in pairs))
    infos = commit_infos(repo, commits)

    by_time: dict[int, set[str]] = {}
    for sha, info in infos.items():
        by_time.setdefault(info["time"], set()).add(sha)
    rank: dict[str, int] = {}
    for timestamp, same_second in by_time.items():
        if len(same_second) > 1:
            rank.update(_ancestry_rank(repo, sorted(same_second), timestamp))

    documents: dict[str, dict[str, Any] | None] = {}
    keyed: dict[str, dict[str, Any]] = {}

    def document(policy_id: str) -> dict[str, Any] | None:
        if policy_id not in documents:
            documents[policy_id] = _read_document(stores, policy_id)
        return documents[policy_id]

    def flat(policy_id: str) -> dict[str, Any]:
        if policy_id not in keyed:
            keyed[policy_id] = _keyed(document(policy_id) or {})
        return keyed[policy_id]

    # A commit bound to two snapshots (two clones captured it independently) is rare:
    # only then does the snapshot's own time decide.
    shared = {sha for sha, count in _counts(sha for _, sha in pairs).items() if count > 1}

    def newest_first(pair: tuple[str, str]) -> tuple[Any, ...]:
        policy_id, sha = pair
        info = infos.get(sha)
        if info is None:  # commit not in this clone: after every dated entry
            return (1, 0, 0, (), policy_id, sha)
        created = (
            _negate(str((document(policy_id) or {}).get("created_at", ""))) if sha in shared else ()
        )
        # Negated so that one ascending sort gives newest first.
        return (0, -info["time"], rank.get(sha, 0), created, policy_id, sha)

    pairs.sort(key=newest_first)
    shown = pairs if limit is None else pairs[: max(limit, 0)]
    entries: list[LogEntry] = []
    for index, (policy_id, sha) in enumerate(shown):
        current = document(policy_id)
        older_id = pairs[index + 1][0] if index + 1 < len(pairs) else None
        older = document(older_id) if older_id is not None else None
        if current is None:
            changed: list[str] = []
        elif older_id is None:
            changed = all_keys(current)  # the first entry sets every key
        elif older_id == policy_id or (
            older is not None and older.get("hash") == current.get("hash")
        ):
            changed = []  # same content again (a revert, a cherry-pick, a merge)
        else:
            changed = changed_keys(flat(older_id), flat(policy_id)) if older is not None else []
        found = infos.get(sha)
        entries.append(
            {
                "policy_id": policy_id,
                "hash": current.get("hash") if current else None,
                "commit": sha,
                "author": found["author"] if found else None,
                "date": found["date"] if found else None,
                "subject": found["subject"] if found else None,
                "changed": changed,
            }
        )
    return entries


def _counts(items: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def all_keys(document: dict[str, Any]) -> list[str]:
    """Every dotted key a snapshot sets: its policy keys and source digests."""
    from speckit_git_policy.snapshot import flatten, policy_keys

    keys = {key for key, value in policy_keys(document).items() if value != {}}
    keys.update(flatten(document.get("source_digests", {}), "source_digests"))
    return sorted(keys)


def _negate(text: str) -> tuple[int, ...]:
    """A sort key that orders strings descending inside an ascending sort."""
    return tuple(-ord(character) for character in text)
