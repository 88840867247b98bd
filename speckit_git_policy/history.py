"""``log``: the policy's history, one entry per binding, newest first (SPEC §9).

The cost follows the number of bindings, never the number of commits: the
bindings come from the stores, and the author, date and subject of every bound
commit from one ``git log --no-walk --stdin`` call. Commits of the same second
are put in ancestry order by one bounded ``rev-list --max-age`` walk per tie.
"""

from __future__ import annotations

from typing import Any

from .gitio import GitRepo
from .store import Stores

_FIELDS = "%H%x00%an <%ae>%x00%aI%x00%ct%x00%s%x1e"


def existing_commits(repo: GitRepo, shas: list[str]) -> list[str]:
    """The SHAs that name a commit present here (a binding may come from another clone)."""
    if not shas:
        return []
    request = "".join(f"{sha}\n" for sha in shas).encode()
    out = repo.git("cat-file", "--batch-check=%(objectname) %(objecttype)", input_bytes=request)
    found = []
    for line in out.decode().splitlines():
        name, _, kind = line.partition(" ")
        if kind == "commit":
            found.append(name)
    return found


def commit_infos(repo: GitRepo, shas: list[str]) -> dict[str, dict[str, Any]]:
    """Author, author date, commit time and subject of many commits in one git call."""
    present = existing_commits(repo, shas)
    if not present:
        return {}
    out = repo.git("log", "--no-walk=unsorted", "--stdin", f"--format={_FIELDS}",
                   input_bytes="".join(f"{sha}\n" for sha in present).encode())
    infos: dict[str, dict[str, Any]] = {}
    for record in out.decode("utf-8", "replace").split("\x1e"):
        record = record.strip("\n")
        if not record:
            continue
        sha, author, date, timestamp, subject = record.split("\0", 4)
        infos[sha] = {"author": author, "date": date, "time": int(timestamp), "subject": subject}
    return infos


def _ancestry_rank(repo: GitRepo, shas: list[str], timestamp: int) -> dict[str, int]:
    """Newest-first topological positions of commits made in the same second.

    ``--max-age`` stops the walk at older commits, so this costs the commits of that
    second, not the history.
    """
    out = repo.git("rev-list", "--topo-order", f"--max-age={timestamp}", *shas, "--")
    wanted = set(shas)
    order = [sha for sha in out.decode().split() if sha in wanted]
    return {sha: position for position, sha in enumerate(order)}


def _read_document(stores: Stores, policy_id: str) -> dict[str, Any] | None:
    from .errors import NotFound, SnapshotCorrupt

    try:
        return stores.load(policy_id)
    except (NotFound, SnapshotCorrupt):
        return None  # `verify` reports it; the history shows what can be read


def policy_log(repo: GitRepo, stores: Stores, limit: int | None = None) -> list[dict[str, Any]]:
    """``[{"policy_id", "hash", "commit", "author", "date", "subject", "changed"}]``, newest first."""
    from .snapshot import diff_documents

    pairs = [(policy_id, binding["commit"])
             for policy_id, bindings in stores.all_bindings().items() for binding in bindings]
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

    def document(policy_id: str) -> dict[str, Any] | None:
        if policy_id not in documents:
            documents[policy_id] = _read_document(stores, policy_id)
        return documents[policy_id]

    def created_at(policy_id: str) -> str:
        loaded = document(policy_id)
        return str(loaded.get("created_at", "")) if loaded else ""

    def newest_first(pair: tuple[str, str]) -> tuple[Any, ...]:
        policy_id, sha = pair
        info = infos.get(sha)
        if info is None:  # commit not in this clone: after every dated entry
            return (1, 0, 0, "", policy_id, sha)
        # Negated so that one ascending sort gives newest first.
        return (0, -info["time"], rank.get(sha, 0), _negate(created_at(policy_id)), policy_id, sha)

    pairs.sort(key=newest_first)
    shown = pairs if limit is None else pairs[: max(limit, 0)]
    entries = []
    for index, (policy_id, sha) in enumerate(shown):
        current = document(policy_id)
        older_id = pairs[index + 1][0] if index + 1 < len(pairs) else None
        if current is None:
            changed: list[str] = []
        elif older_id is None:
            changed = all_keys(current)  # the first entry sets every key
        elif older_id == policy_id:
            changed = []  # same content again (a revert, a cherry-pick, a merge)
        else:
            older = document(older_id)
            changed = [c["key"] for c in diff_documents(older, current)] if older is not None else []
        info = infos.get(sha, {})
        entries.append({
            "policy_id": policy_id,
            "hash": current.get("hash") if current else None,
            "commit": sha,
            "author": info.get("author"),
            "date": info.get("date"),
            "subject": info.get("subject"),
            "changed": changed,
        })
    return entries


def all_keys(document: dict[str, Any]) -> list[str]:
    """Every dotted key a snapshot sets: its policy keys and source digests."""
    from .snapshot import flatten, policy_keys

    keys = {key for key, value in policy_keys(document).items() if value != {}}
    keys.update(flatten(document.get("source_digests", {}), "source_digests"))
    return sorted(keys)


def _negate(text: str) -> tuple[int, ...]:
    """A sort key that orders strings descending inside an ascending sort."""
    return tuple(-ord(character) for character in text)
